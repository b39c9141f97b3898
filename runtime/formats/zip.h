/* zip.h — a validated, read-only reader of the zip container torch.save writes, memory-mapped.
 *
 * PyTorch checkpoints (.ckpt, .pt, .pth, .bin) are zip archives whose entries are stored
 * uncompressed and aligned to 64 bytes, so an entry's bytes are read in place from the mapping,
 * never copied. The reader takes the central directory as the truth (local headers written with
 * data descriptors carry zero sizes) and checks, before anything is trusted: the end record
 * (and the zip64 end record + locator when sizes or offsets pass 4 GiB), the central directory
 * inside the file, every entry's local header inside the file, agreeing with its central entry
 * and ending before the central directory, the zip64 extra fields, no two entries overlapping,
 * no duplicate or empty names, no encryption, no multi-disk archives. Any failure is
 * EVK_ERROR_FORMAT naming the file (and entry) and what is wrong.
 *
 * Only stored entries are accepted: torch.save never compresses, and refusing deflate keeps
 * the reader free of an inflater (a deflated entry is refused with a message saying to re-save
 * with torch.save). CRC-32s are not checked at open, which would read every byte of a
 * multi-gigabyte file; evk_zip_check_crc checks one entry when its bytes are read anyway. */
#ifndef EVK_ZIP_H
#define EVK_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evk_zip_entry {
    const char *name;       /* NUL-terminated, as stored (no NUL inside) */
    const uint8_t *data;    /* the entry's bytes inside the mapping */
    uint64_t size;
    uint64_t offset;        /* of the data from the start of the file */
    uint32_t crc32;         /* as the central directory records it */
} evk_zip_entry;

typedef struct evk_zip evk_zip;

/* Map and validate a file. */
evk_status evk_zip_open(const char *path, evk_zip **out);
/* Validate an image already in memory (kept by reference: `bytes` must outlive the result).
 * `label` names it in messages. */
evk_status evk_zip_parse(const void *bytes, size_t size, const char *label, evk_zip **out);
void evk_zip_close(evk_zip *z);

const char *evk_zip_path(const evk_zip *z);
size_t evk_zip_count(const evk_zip *z);
/* Entries in central-directory order. */
const evk_zip_entry *evk_zip_at(const evk_zip *z, size_t i);
/* NULL when absent. */
const evk_zip_entry *evk_zip_find(const evk_zip *z, const char *name);
/* EVK_ERROR_FORMAT naming the entry when its bytes do not match the recorded CRC-32. */
evk_status evk_zip_check_crc(const evk_zip *z, const evk_zip_entry *e);

#ifdef __cplusplus
}
#endif
#endif
