export {
  CONFIG_FILE,
  SAFETENSORS_FILE,
  SAFETENSORS_INDEX_FILE,
  CheckpointFileError,
  checkpointFilesFromBytes,
  readWholeFile,
  type CheckpointFiles,
  type CheckpointFileErrorCode,
} from "./files.js";
export { Checkpoint, openCheckpoint, readCheckpointConfig, type CheckpointTensorInfo, type ReadTensorOptions } from "./read.js";
export { parseShardIndex, planShards, shardFileName, DEFAULT_MAX_SHARD_BYTES, type ShardIndex } from "./shards.js";
export { configJson } from "./config_json.js";
