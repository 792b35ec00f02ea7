// Encodes raw RGB with libwebp's WebPEncode, exposing the settings cwebp does not (token partitions).
// Usage: encode_vp8 in.rgb width height quality partitions(0..3) segments method filter_strength
//        filter_type(0 simple, 1 strong) sharpness out.webp
// Build: gcc -O1 -I<libwebp-1.2.4>/src encode_vp8.c -o encode_vp8 -l:libwebp.so.7
#include <stdio.h>
#include <stdlib.h>
#include "webp/encode.h"

int main(int argc, char** argv) {
  if (argc != 12) {
    fprintf(stderr, "usage: %s in.rgb w h q partitions segments method fstrength ftype sharpness out.webp\n",
            argv[0]);
    return 2;
  }
  const int w = atoi(argv[2]), h = atoi(argv[3]);
  unsigned char* rgb = malloc((size_t)w * h * 3);
  FILE* in = fopen(argv[1], "rb");
  if (in == NULL || fread(rgb, 1, (size_t)w * h * 3, in) != (size_t)w * h * 3) return 1;
  fclose(in);

  WebPConfig config;
  if (!WebPConfigInit(&config)) return 1;
  config.quality = (float)atof(argv[4]);
  config.partitions = atoi(argv[5]);
  config.segments = atoi(argv[6]);
  config.method = atoi(argv[7]);
  config.filter_strength = atoi(argv[8]);
  config.filter_type = atoi(argv[9]);
  config.filter_sharpness = atoi(argv[10]);
  // The token buffer (used unless low_memory) forces a single partition.
  config.low_memory = config.partitions > 0;
  if (!WebPValidateConfig(&config)) return 1;

  WebPPicture pic;
  if (!WebPPictureInit(&pic)) return 1;
  pic.width = w;
  pic.height = h;
  if (!WebPPictureImportRGB(&pic, rgb, w * 3)) return 1;
  WebPMemoryWriter writer;
  WebPMemoryWriterInit(&writer);
  pic.writer = WebPMemoryWrite;
  pic.custom_ptr = &writer;
  if (!WebPEncode(&config, &pic)) {
    fprintf(stderr, "encode failed: %d\n", pic.error_code);
    return 1;
  }
  FILE* out = fopen(argv[11], "wb");
  fwrite(writer.mem, 1, writer.size, out);
  fclose(out);
  WebPMemoryWriterClear(&writer);
  WebPPictureFree(&pic);
  free(rgb);
  return 0;
}
