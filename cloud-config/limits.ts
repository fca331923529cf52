/**
 * How much work one document may cause. The document is root-equivalent, but it still comes from a metadata
 * service or a file others may have a hand in, so its size and what it inflates to are bounded.
 */

/**
 * A document (file or stdin) larger than this is refused before it is parsed. Clouds pass far less (EC2 16 KB,
 * GCE 256 KB); parsing costs up to ~100 bytes of memory per byte of densely nested YAML, so 2 MiB of it stays
 * near 200 MB, while a gzip+base64 file of about 1.5 MB still fits.
 */
export const MAX_DOCUMENT_BYTES = 2 * 1024 * 1024;
/** One write_files entry's content after base64/gzip decoding. */
export const MAX_DECODED_FILE_BYTES = 32 * 1024 * 1024;
/** All write_files contents of one document together, after decoding. */
export const MAX_DECODED_TOTAL_BYTES = 64 * 1024 * 1024;
/** Linux's limits for one file name and a whole path (NAME_MAX, PATH_MAX less the NUL), in bytes. */
export const MAX_FILE_NAME = 255;
export const MAX_PATH = 4095;
/** Inventory files read from the target (passwd, group, shadow, /etc/environment, authorized keys). */
export const MAX_TARGET_FILE_BYTES = 16 * 1024 * 1024;

/** `2097152 bytes (2 MiB)` */
export function describeBytes(n: number): string {
  return `${n} bytes (${n / (1024 * 1024)} MiB)`;
}
/** One metadata answer (a metadata service's reply, a config drive's meta_data.json, SharedConfig.xml). */
export const MAX_METADATA_BYTES = 1024 * 1024;
/** SSH keys taken from one source's metadata (EC2 asks for each one separately). */
export const MAX_METADATA_KEYS = 100;
