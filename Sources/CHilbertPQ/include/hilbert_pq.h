/*
 * libpq (the PostgreSQL client library), loaded on first use like libcurl (hilbert_http.h):
 * a process that never touches a PostgreSQL volume never maps it, and the engine and the
 * CLI do not need it to start. This header does not include <libpq-fe.h>: Swift sees only
 * these wrappers (a direct PQ* call would fail to link, which is the point), and the enum
 * values below are checked against libpq's at compile time (pq.c).
 *
 * Everything here is a thin forward to the PQ* function of the same name, except
 * hl_pq_connect_start (the defaults Hilbert adds) and hl_pq_bytes_sent (TCP_INFO, to count a
 * connect's round trips).
 * The connection logic (polling with a deadline, errors, pipelines, the socket's ownership
 * and fork) lives in Swift (HilbertMeta/PostgreSQL/PGConnection.swift).
 */
#ifndef HILBERT_PQ_H
#define HILBERT_PQ_H

#include <stddef.h>
#include <stdint.h>

typedef struct hl_pq_conn hl_pq_conn;       /* PGconn */
typedef struct hl_pq_result hl_pq_result;   /* PGresult */

/* Load libpq (once per process). 0, or -1 with a message in err. */
int hl_pq_load(char *err, size_t errlen);
/* PQlibVersion (e.g. 150018), 0 before loading. */
int hl_pq_lib_version(void);

/* PQconnectStartParams with `conninfo` as an expanded dbname (a URI or key=value string,
 * used as is), after Hilbert's defaults, which the conninfo overrides:
 * fallback_application_name=hilbert, client_encoding=UTF8. Notices (e.g. "relation already
 * exists, skipping") are dropped instead of printed on the program's stderr, and errors
 * are verbose (their SQLSTATE in the connection's message: the only place libpq reports
 * the SQLSTATE of a failed connection). NULL only when out of memory. */
hl_pq_conn *hl_pq_connect_start(const char *conninfo);
int hl_pq_connect_poll(hl_pq_conn *c);
int hl_pq_status(const hl_pq_conn *c);
const char *hl_pq_error_message(const hl_pq_conn *c);
void hl_pq_finish(hl_pq_conn *c);
int hl_pq_socket(const hl_pq_conn *c);
const char *hl_pq_host(const hl_pq_conn *c);
const char *hl_pq_port(const hl_pq_conn *c);
const char *hl_pq_db(const hl_pq_conn *c);
int hl_pq_transaction_status(const hl_pq_conn *c);
/* Bytes this connection's TCP socket has sent (TCP_INFO, Linux 4.19+); -1 when unknown (a
 * Unix socket, an older kernel). How a connect's round trips are counted. */
long long hl_pq_bytes_sent(const hl_pq_conn *c);
/* PQsetErrorVerbosity; returns the previous one. */
int hl_pq_set_error_verbosity(hl_pq_conn *c, int verbosity);

int hl_pq_set_nonblocking(hl_pq_conn *c, int on);
int hl_pq_flush(hl_pq_conn *c);
int hl_pq_consume_input(hl_pq_conn *c);
int hl_pq_is_busy(hl_pq_conn *c);
int hl_pq_send_query(hl_pq_conn *c, const char *sql);
int hl_pq_send_query_params(hl_pq_conn *c, const char *sql, int n, const uint32_t *types,
                            const char *const *values, const int *lengths, const int *formats,
                            int result_format);
hl_pq_result *hl_pq_get_result(hl_pq_conn *c);

int hl_pq_enter_pipeline_mode(hl_pq_conn *c);
int hl_pq_exit_pipeline_mode(hl_pq_conn *c);
int hl_pq_pipeline_sync(hl_pq_conn *c);
int hl_pq_send_flush_request(hl_pq_conn *c);

int hl_pq_result_status(const hl_pq_result *r);
/* PQresultErrorField (HL_PQ_DIAG_*); NULL when absent. */
const char *hl_pq_result_error_field(const hl_pq_result *r, int field);
int hl_pq_ntuples(const hl_pq_result *r);
int hl_pq_nfields(const hl_pq_result *r);
const char *hl_pq_getvalue(const hl_pq_result *r, int row, int col);
int hl_pq_getlength(const hl_pq_result *r, int row, int col);
int hl_pq_getisnull(const hl_pq_result *r, int row, int col);
const char *hl_pq_cmd_tuples(hl_pq_result *r);
void hl_pq_clear(hl_pq_result *r);


/* libpq's values (static_assert-ed in pq.c). */
enum {
    HL_PQ_CONNECTION_OK = 0,
    HL_PQ_CONNECTION_BAD = 1,

    HL_PQ_POLLING_FAILED = 0,
    HL_PQ_POLLING_READING = 1,
    HL_PQ_POLLING_WRITING = 2,
    HL_PQ_POLLING_OK = 3,

    HL_PQ_EMPTY_QUERY = 0,
    HL_PQ_COMMAND_OK = 1,
    HL_PQ_TUPLES_OK = 2,
    HL_PQ_COPY_OUT = 3,
    HL_PQ_COPY_IN = 4,
    HL_PQ_BAD_RESPONSE = 5,
    HL_PQ_NONFATAL_ERROR = 6,
    HL_PQ_FATAL_ERROR = 7,
    HL_PQ_COPY_BOTH = 8,
    HL_PQ_SINGLE_TUPLE = 9,
    HL_PQ_PIPELINE_SYNC = 10,
    HL_PQ_PIPELINE_ABORTED = 11,

    HL_PQ_TRANS_IDLE = 0,
    HL_PQ_TRANS_ACTIVE = 1,
    HL_PQ_TRANS_INTRANS = 2,
    HL_PQ_TRANS_INERROR = 3,
    HL_PQ_TRANS_UNKNOWN = 4,

    HL_PQ_ERRORS_TERSE = 0,
    HL_PQ_ERRORS_DEFAULT = 1,
    HL_PQ_ERRORS_VERBOSE = 2,

    HL_PQ_DIAG_SEVERITY = 'S',
    HL_PQ_DIAG_SQLSTATE = 'C',
    HL_PQ_DIAG_MESSAGE_PRIMARY = 'M',
    HL_PQ_DIAG_MESSAGE_DETAIL = 'D',
    HL_PQ_DIAG_MESSAGE_HINT = 'H',
};

#endif
