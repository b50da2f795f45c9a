/* libcurl, loaded lazily and driven through function pointers (see hilbert_http.h). */
#define _GNU_SOURCE
#include "hilbert_http.h"
#include "../CHilbertSys/include/hilbert_sys.h"
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_reset)(CURL *);
    void (*easy_cleanup)(CURL *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    char *(*version)(void);
} C;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;            /* 1 ok, -1 failed */
static char load_error[512];
static char version_text[512];

static int fail(char *err, size_t errlen, const char *a, const char *b) {
    snprintf(load_error, sizeof load_error, "%s%s", a, b ? b : "");
    loaded = -1;
    if (err && errlen) snprintf(err, errlen, "%s", load_error);
    return -1;
}

int hl_http_load(char *err, size_t errlen) {
    pthread_mutex_lock(&load_lock);
    if (loaded == 0) {
        /* libcurl4 (OpenSSL flavour) first; the GnuTLS/NSS builds export the same ABI. */
        static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4"};
        void *h = NULL;
        const char *why = NULL;
        for (size_t i = 0; i < sizeof names / sizeof *names && !h; i++) {
            h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
            if (!h && !why) why = dlerror();
        }
        if (!h) {
            fail(err, errlen, "S3 storage needs libcurl (Debian: apt-get install libcurl4): ", why);
            pthread_mutex_unlock(&load_lock);
            return -1;
        }
#define SYM(field, name)                                                        \
        if (!(*(void **)&C.field = dlsym(h, name))) {                            \
            fail(err, errlen, "libcurl lacks ", name);                           \
            pthread_mutex_unlock(&load_lock);                                    \
            return -1;                                                           \
        }
        SYM(global_init, "curl_global_init")
        SYM(easy_init, "curl_easy_init")
        SYM(easy_setopt, "curl_easy_setopt")
        SYM(easy_perform, "curl_easy_perform")
        SYM(easy_getinfo, "curl_easy_getinfo")
        SYM(easy_reset, "curl_easy_reset")
        SYM(easy_cleanup, "curl_easy_cleanup")
        SYM(slist_append, "curl_slist_append")
        SYM(slist_free_all, "curl_slist_free_all")
        SYM(version, "curl_version")
#undef SYM
        if (C.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fail(err, errlen, "curl_global_init failed", NULL);
            pthread_mutex_unlock(&load_lock);
            return -1;
        }
        snprintf(version_text, sizeof version_text, "%s", C.version());
        loaded = 1;
    }
    int ok = loaded;
    pthread_mutex_unlock(&load_lock);
    if (ok < 0) {
        if (err && errlen) snprintf(err, errlen, "%s", load_error);
        return -1;
    }
    return 0;
}

const char *hl_http_version(void) { return version_text; }

/* ---- handles and their sockets ---- */

#define MAX_SOCKETS 16

typedef struct handle {
    CURL *easy;
    pid_t pid;
    int sockets[MAX_SOCKETS];  /* the connections this handle opened, -1 for free slots */
    hl_http_response *resp;    /* the response being filled */
    const hl_http_request *req;
} handle;

/* Sockets are the engine's own fds: moved above the application's range, close-on-exec,
 * hidden from its close/close_range (it cannot close a connection under us). */
static curl_socket_t open_socket(void *data, curlsocktype purpose, struct curl_sockaddr *a) {
    (void)purpose;
    handle *h = data;
    int t = hl_sys_window_begin(1);
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd >= 0) fd = hl_sys_park_fd(fd);
    hl_sys_window_end(t);
    if (fd < 0) return CURL_SOCKET_BAD;
    for (int i = 0; i < MAX_SOCKETS; i++)
        if (h->sockets[i] < 0) { h->sockets[i] = fd; break; }
    return fd;
}

static int close_socket(void *data, curl_socket_t fd) {
    handle *h = data;
    for (int i = 0; i < MAX_SOCKETS; i++)
        if (h->sockets[i] == fd) h->sockets[i] = -1;
    hl_sys_note_private(fd, 0);
    return hl_sys.close(fd);
}

void *hl_http_new(void) {
    if (loaded != 1) return NULL;
    handle *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->easy = C.easy_init();
    if (!h->easy) { free(h); return NULL; }
    h->pid = getpid();
    for (int i = 0; i < MAX_SOCKETS; i++) h->sockets[i] = -1;
    return h;
}

void hl_http_free(void *p) {
    handle *h = p;
    if (!h) return;
    C.easy_cleanup(h->easy);
    free(h);
}

int hl_http_owned(void *p) { return ((handle *)p)->pid == getpid(); }

void hl_http_abandon(void *p) {
    handle *h = p;
    for (int i = 0; i < MAX_SOCKETS; i++) {
        if (h->sockets[i] < 0) continue;
        hl_sys_note_private(h->sockets[i], 0);
        hl_sys.close(h->sockets[i]);
        h->sockets[i] = -1;
    }
    /* The CURL handle and its TLS state stay allocated: freeing them would send on sockets
     * that are the parent's. */
}

/* ---- one exchange ---- */

static size_t on_body(char *data, size_t size, size_t n, void *p) {
    handle *h = p;
    hl_http_response *r = h->resp;
    size_t len = size * n;
    if (h->req->out) {
        if (r->body_len + len > h->req->out_cap) { r->overflow = 1; return 0; }
        memcpy((char *)h->req->out + r->body_len, data, len);
        r->body_len += len;
        return len;
    }
    static const size_t limit = 64u << 20; /* listings and error documents are small */
    if (r->body_len + len > limit) { r->overflow = 1; return 0; }
    unsigned char *g = realloc(r->grown, r->body_len + len + 1);
    if (!g) return 0;
    memcpy(g + r->body_len, data, len);
    r->grown = g;
    r->body_len += len;
    g[r->body_len] = 0;
    return len;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t len) {
    while (len && (*v == ' ' || *v == '\t')) { v++; len--; }
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ')) len--;
    if (len >= cap) len = cap - 1;
    memcpy(dst, v, len);
    dst[len] = 0;
}

static int header_is(const char *line, size_t len, const char *name, const char **value, size_t *vlen) {
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0) return 0;
    *value = line + n + 1;
    *vlen = len - n - 1;
    return 1;
}

static size_t on_header(char *line, size_t size, size_t n, void *p) {
    handle *h = p;
    hl_http_response *r = h->resp;
    size_t len = size * n;
    const char *v;
    size_t vl;
    if (len > 5 && memcmp(line, "HTTP/", 5) == 0) {   /* a new response: forget the last one's */
        r->etag[0] = r->retry_after[0] = r->request_id[0] = r->last_modified[0] = r->storage_class[0] = 0;
        r->content_length = -1;
    } else if (header_is(line, len, "etag", &v, &vl)) {
        copy_value(r->etag, sizeof r->etag, v, vl);
    } else if (header_is(line, len, "retry-after", &v, &vl)) {
        copy_value(r->retry_after, sizeof r->retry_after, v, vl);
    } else if (header_is(line, len, "x-amz-request-id", &v, &vl)) {
        copy_value(r->request_id, sizeof r->request_id, v, vl);
    } else if (header_is(line, len, "x-amz-storage-class", &v, &vl)) {
        copy_value(r->storage_class, sizeof r->storage_class, v, vl);
    } else if (header_is(line, len, "last-modified", &v, &vl)) {
        copy_value(r->last_modified, sizeof r->last_modified, v, vl);
    } else if (header_is(line, len, "content-length", &v, &vl)) {
        char num[32];
        copy_value(num, sizeof num, v, vl);
        r->content_length = strtoll(num, NULL, 10);
    }
    return len;
}

#define SET(opt, val) C.easy_setopt(e, opt, val)

int hl_http_perform(void *p, const hl_http_request *q, hl_http_response *r) {
    handle *h = p;
    CURL *e = h->easy;
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    h->resp = r;
    h->req = q;
    C.easy_reset(e);   /* keeps the connection cache */
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = 0;
    struct curl_slist *hdrs = NULL;
    for (int i = 0; i < q->nheaders; i++) hdrs = C.slist_append(hdrs, q->headers[i]);
    /* Signed requests carry exactly the headers we signed; curl's own additions that
     * change the exchange are removed (Expect: 100-continue costs a round trip per PUT). */
    hdrs = C.slist_append(hdrs, "Expect:");
    SET(CURLOPT_URL, q->url);
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PATH_AS_IS, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, h);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, h);
    SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SET(CURLOPT_OPENSOCKETDATA, h);
    SET(CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    SET(CURLOPT_CLOSESOCKETDATA, h);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    /* Bodies are MiBs: 512 KiB reads instead of 16 KiB ones (fewer recv calls and callbacks). */
    SET(CURLOPT_BUFFERSIZE, 512L * 1024);
    if (q->connect_timeout_ms > 0) SET(CURLOPT_CONNECTTIMEOUT_MS, q->connect_timeout_ms);
    if (q->total_timeout_ms > 0) SET(CURLOPT_TIMEOUT_MS, q->total_timeout_ms);
    if (q->stall_timeout_s > 0) {
        SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
        SET(CURLOPT_LOW_SPEED_TIME, q->stall_timeout_s);
    }
    const char *m = q->method;
    if (strcmp(m, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(m, "POST") != 0) SET(CURLOPT_CUSTOMREQUEST, m);
        if (strcmp(m, "DELETE") != 0 || q->body_len) {
            /* The body is sent from the caller's memory, not copied. */
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
            SET(CURLOPT_POSTFIELDS, q->body_len ? q->body : "");
        }
    }
    /* An engine thread steps out of the fork gate for the request (forkgate.c): libcurl and
     * its callbacks here run no Swift. */
    hl_gate_pause();
    CURLcode rc = C.easy_perform(e);
    hl_gate_resume();
    C.slist_free_all(hdrs);
    r->curl_code = (int)rc;
    long status = 0;
    C.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    r->status = status;
    long oserr = 0;
    C.easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr);
    r->os_errno = (int)oserr;
    if (rc != CURLE_OK) snprintf(r->error, sizeof r->error, "%s", errbuf[0] ? errbuf : "transfer failed");
    if (rc == CURLE_WRITE_ERROR && r->overflow) r->error[0] = 0;
    C.easy_setopt(e, CURLOPT_ERRORBUFFER, (char *)NULL);
    h->resp = NULL;
    h->req = NULL;
    return (int)rc;
}

void hl_http_free_body(hl_http_response *r) {
    free(r->grown);
    r->grown = NULL;
}
