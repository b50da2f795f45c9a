/*
 * HTTP requests through libcurl, loaded on first use (its dlopen costs 14-32 ms, which no
 * process that only stats or reads cached data should pay). One handle per concurrent
 * request; a handle keeps its connection alive between requests. Signing, retries and
 * error classification live in Swift (HilbertS3); this layer only moves bytes.
 */
#ifndef HILBERT_HTTP_H
#define HILBERT_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hl_http_request {
    const char *method;            /* GET, HEAD, PUT, POST, DELETE */
    const char *url;               /* already canonical (encoded path, sorted query) */
    const char *const *headers;    /* "Name: value" lines, sent as given */
    int nheaders;
    const void *body;              /* PUT/POST body (may be NULL with body_len 0) */
    size_t body_len;
    void *out;                     /* response body destination, or NULL: grown buffer */
    size_t out_cap;
    long connect_timeout_ms;
    long stall_timeout_s;          /* abort when below 1 byte/s for this long (0: never) */
    long total_timeout_ms;         /* 0: no limit */
} hl_http_request;

typedef struct hl_http_response {
    long status;                   /* HTTP status, 0 when no response arrived */
    int curl_code;                 /* CURLcode, 0 on a complete exchange */
    int os_errno;                  /* errno of the transport failure, if curl knows it */
    size_t body_len;               /* bytes of body received */
    int overflow;                  /* the body did not fit `out` */
    unsigned char *grown;          /* the body when request.out was NULL (free with hl_http_free_body) */
    long long content_length;      /* -1 when absent */
    char etag[96];
    char retry_after[64];
    char request_id[96];
    char last_modified[64];
    char storage_class[48];        /* x-amz-storage-class ("" when absent: STANDARD) */
    char error[256];               /* curl's message for a transport failure */
} hl_http_response;

/* Load libcurl (once per process). 0, or -1 with a message in err. */
int hl_http_load(char *err, size_t errlen);
/* The loaded libcurl's version string ("" before loading). */
const char *hl_http_version(void);
/* A new handle (NULL on failure) bound to this process; handles made before a fork are
 * never used by the child (see hl_http_owned). */
void *hl_http_new(void);
void hl_http_free(void *handle);
/* Does `handle` belong to this process (not inherited through fork)? */
int hl_http_owned(void *handle);
/* Abandon a handle inherited through fork: close its sockets in this process only and
 * leak the rest (cleaning it up could talk on the parent's connections). */
void hl_http_abandon(void *handle);
/* Run one request. Returns the CURLcode (also in resp->curl_code). */
int hl_http_perform(void *handle, const hl_http_request *req, hl_http_response *resp);
void hl_http_free_body(hl_http_response *resp);

/* CURLcode values the retry policy distinguishes. */
enum {
    HL_CURLE_OK = 0,
    HL_CURLE_COULDNT_RESOLVE_HOST = 6,
    HL_CURLE_COULDNT_CONNECT = 7,
    HL_CURLE_PARTIAL_FILE = 18,
    HL_CURLE_WRITE_ERROR = 23,
    HL_CURLE_OPERATION_TIMEDOUT = 28,
    HL_CURLE_SSL_CONNECT_ERROR = 35,
    HL_CURLE_GOT_NOTHING = 52,
    HL_CURLE_SEND_ERROR = 55,
    HL_CURLE_RECV_ERROR = 56,
    HL_CURLE_PEER_FAILED_VERIFICATION = 60,
};

#endif
