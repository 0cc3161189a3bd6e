/** No WebGPU adapter or device could be had; the message says how to get one. */
export class WebGPUUnavailableError extends Error {
  override name = "WebGPUUnavailableError";
}

/** The device rejected work (validation, out of memory) or was lost. */
export class WebGPUDeviceError extends Error {
  override name = "WebGPUDeviceError";
}

/** A kernel was asked for something this backend does not implement, e.g. an op on a dtype. */
export class WebGPUKernelError extends Error {
  override name = "WebGPUKernelError";
}
