/* sha256.h: streaming SHA-256 for download integrity checks. */
#ifndef MX_SHA256_H
#define MX_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t nbuf;
} mx_sha256;

void mx_sha256_init(mx_sha256 *s);
void mx_sha256_update(mx_sha256 *s, const void *data, size_t n);
void mx_sha256_final(mx_sha256 *s, uint8_t out[32]);
void mx_sha256_hex(const uint8_t d[32], char out[65]);

#endif
