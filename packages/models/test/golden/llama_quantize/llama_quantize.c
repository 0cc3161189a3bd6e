/*
 * llama-quantize, as a function: calls llama_model_quantize from the libllama that node-llama-cpp
 * 3.21.1 ships (its prebuilt linux-x64 binary), so the golden files are what llama.cpp itself makes.
 * Usage: llama_quantize IN.gguf OUT.gguf FTYPE (llama_ftype: 15 Q4_K_M, 17 Q5_K_M). No imatrix.
 *
 * The parameter struct is filled by llama_model_quantize_default_params and only its first two
 * fields are set (int32 nthread, enum llama_ftype ftype: the same in every llama.h since 2023); the
 * buffer is larger than the struct, which is returned through a caller-allocated pointer.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct { unsigned char bytes[1024]; } quantize_params;

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s IN.gguf OUT.gguf FTYPE\n", argv[0]);
    return 2;
  }
  void *lib = dlopen("libllama.v0.4.0.so", RTLD_NOW);
  if (!lib) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  quantize_params (*defaults)(void) = (quantize_params (*)(void))dlsym(lib, "llama_model_quantize_default_params");
  uint32_t (*quantize)(const char *, const char *, const quantize_params *) =
      (uint32_t (*)(const char *, const char *, const quantize_params *))dlsym(lib, "llama_model_quantize");
  if (!defaults || !quantize) {
    fprintf(stderr, "libllama lacks llama_model_quantize\n");
    return 1;
  }
  quantize_params params = defaults();
  int32_t *fields = (int32_t *)params.bytes;
  fields[0] = 1;              /* nthread */
  fields[1] = atoi(argv[3]);  /* ftype */
  return (int)quantize(argv[1], argv[2], &params);
}
