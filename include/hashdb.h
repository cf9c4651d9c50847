/* hashdb: the content hashes of files, remembered in .planmake/hashes
 * with the stat they were taken under (size, mtime and ctime in
 * nanoseconds, inode, device), so that a file whose stat has not changed
 * is not read again. */
#ifndef PM_HASHDB_H
#define PM_HASHDB_H

#include <stddef.h>
#include <stdint.h>

#define HASHDB_VERSION	1

/* A file modified within this many nanoseconds of the moment its hash
 * was taken may have changed without its stat showing it (timestamps
 * are coarse), so its record is not trusted: the racy case git handles
 * the same way. */
#define HASHDB_RACY_NS	1000000000LL

struct filestat;
struct hashdb;

/* An empty store. */
struct hashdb	*hashdb_new(void);
void		 hashdb_free(struct hashdb *db);

/* Read the store at path.  A missing file is an empty store.  A file
 * that is damaged or of another version leaves db empty and returns -1
 * with *errp (the caller warns: the store only saves reading). */
int		 hashdb_load(struct hashdb *db, const char *path, char **errp);

/* Write the store to path (temporary file and rename) when it changed
 * since it was loaded.  Records of files neither looked at in this run
 * nor accepted by keep(path, arg) are dropped; keep may be NULL (keep
 * all).  -1 and *errp on failure. */
int		 hashdb_save(struct hashdb *db, const char *path,
		    int (*keep)(const char *path, void *arg), void *arg,
		    char **errp);

/* The SHA-256 of the file at path into out: from the record when the
 * file's stat is the recorded one and the record is not racy, else by
 * reading the file (and recording it).  Returns 1, 0 when the file does
 * not exist, or -1 and *errp when it cannot be read. */
int		 hashdb_hash(struct hashdb *db, const char *path,
		    char out[65], char **errp);
/* The same, given the file's stat when the caller took it already (fs
 * NULL: stat it here), so that a file is stat'ed once in a run. */
int		 hashdb_hash_stat(struct hashdb *db, const char *path,
		    const struct filestat *fs, char out[65], char **errp);

/* Record that the file at path, just written, holds content of SHA-256
 * hash (so it is not read back).  A file that cannot be stat'ed is
 * forgotten instead. */
void		 hashdb_record(struct hashdb *db, const char *path,
		    const char hash[65]);

/* How many files hashdb_hash() has read since db was made. */
size_t		 hashdb_reads(const struct hashdb *db);

/* The number of records. */
size_t		 hashdb_count(struct hashdb *db);

#endif
