/* Convert a buffer to UTF-8 with iconv(3), reporting failures through errno. */
#include "ffikit_fixtures.h"

#include <errno.h>
#include <iconv.h>

ssize_t ffikit_convert_to_utf8(const char *from_encoding, const char *in, size_t in_len,
                               char *out, size_t out_cap) {
    if (from_encoding == NULL || (in == NULL && in_len != 0) || (out == NULL && out_cap != 0)) {
        errno = EFAULT;
        return -1;
    }
    iconv_t cd = iconv_open("UTF-8", from_encoding);
    if (cd == (iconv_t)-1) {
        errno = EINVAL; /* glibc says EINVAL already; other libcs may not */
        return -1;
    }
    char *in_cursor = (char *)in;
    size_t in_left = in_len;
    char *out_cursor = out;
    size_t out_left = out_cap;
    int failure = 0;
    if (iconv(cd, &in_cursor, &in_left, &out_cursor, &out_left) == (size_t)-1) {
        /* EINVAL from iconv() itself means a truncated multibyte sequence: invalid input. */
        failure = errno == EINVAL ? EILSEQ : errno;
    } else if (iconv(cd, NULL, NULL, &out_cursor, &out_left) == (size_t)-1) {
        /* Flush the shift state of stateful encodings (ISO-2022-JP and friends). */
        failure = errno;
    }
    iconv_close(cd);
    if (failure != 0) {
        errno = failure;
        return -1;
    }
    return (ssize_t)(out_cursor - out);
}
