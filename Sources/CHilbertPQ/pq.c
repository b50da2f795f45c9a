/* libpq, loaded lazily and driven through function pointers (see hilbert_pq.h). */
#define _GNU_SOURCE
#include "hilbert_pq.h"
#include <libpq-fe.h>
#include <dlfcn.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

_Static_assert(HL_PQ_CONNECTION_OK == CONNECTION_OK && HL_PQ_CONNECTION_BAD == CONNECTION_BAD, "ConnStatusType");
_Static_assert(HL_PQ_POLLING_FAILED == PGRES_POLLING_FAILED && HL_PQ_POLLING_READING == PGRES_POLLING_READING &&
               HL_PQ_POLLING_WRITING == PGRES_POLLING_WRITING && HL_PQ_POLLING_OK == PGRES_POLLING_OK,
               "PostgresPollingStatusType");
_Static_assert(HL_PQ_EMPTY_QUERY == PGRES_EMPTY_QUERY && HL_PQ_COMMAND_OK == PGRES_COMMAND_OK &&
               HL_PQ_TUPLES_OK == PGRES_TUPLES_OK && HL_PQ_COPY_OUT == PGRES_COPY_OUT &&
               HL_PQ_COPY_IN == PGRES_COPY_IN && HL_PQ_BAD_RESPONSE == PGRES_BAD_RESPONSE &&
               HL_PQ_NONFATAL_ERROR == PGRES_NONFATAL_ERROR && HL_PQ_FATAL_ERROR == PGRES_FATAL_ERROR &&
               HL_PQ_COPY_BOTH == PGRES_COPY_BOTH && HL_PQ_SINGLE_TUPLE == PGRES_SINGLE_TUPLE &&
               HL_PQ_PIPELINE_SYNC == PGRES_PIPELINE_SYNC && HL_PQ_PIPELINE_ABORTED == PGRES_PIPELINE_ABORTED,
               "ExecStatusType");
_Static_assert(HL_PQ_TRANS_IDLE == PQTRANS_IDLE && HL_PQ_TRANS_ACTIVE == PQTRANS_ACTIVE &&
               HL_PQ_TRANS_INTRANS == PQTRANS_INTRANS && HL_PQ_TRANS_INERROR == PQTRANS_INERROR &&
               HL_PQ_TRANS_UNKNOWN == PQTRANS_UNKNOWN, "PGTransactionStatusType");
_Static_assert(HL_PQ_ERRORS_TERSE == PQERRORS_TERSE && HL_PQ_ERRORS_DEFAULT == PQERRORS_DEFAULT &&
               HL_PQ_ERRORS_VERBOSE == PQERRORS_VERBOSE, "PGVerbosity");
_Static_assert(HL_PQ_DIAG_SEVERITY == PG_DIAG_SEVERITY && HL_PQ_DIAG_SQLSTATE == PG_DIAG_SQLSTATE &&
               HL_PQ_DIAG_MESSAGE_PRIMARY == PG_DIAG_MESSAGE_PRIMARY &&
               HL_PQ_DIAG_MESSAGE_DETAIL == PG_DIAG_MESSAGE_DETAIL && HL_PQ_DIAG_MESSAGE_HINT == PG_DIAG_MESSAGE_HINT,
               "PG_DIAG_*");

static struct {
    int (*libVersion)(void);
    PGconn *(*connectStartParams)(const char *const *, const char *const *, int);
    PostgresPollingStatusType (*connectPoll)(PGconn *);
    ConnStatusType (*status)(const PGconn *);
    char *(*errorMessage)(const PGconn *);
    void (*finish)(PGconn *);
    int (*socket)(const PGconn *);
    char *(*host)(const PGconn *);
    char *(*port)(const PGconn *);
    char *(*db)(const PGconn *);
    PGTransactionStatusType (*transactionStatus)(const PGconn *);
    PGVerbosity (*setErrorVerbosity)(PGconn *, PGVerbosity);
    PQnoticeProcessor (*setNoticeProcessor)(PGconn *, PQnoticeProcessor, void *);
    int (*setnonblocking)(PGconn *, int);
    int (*flush)(PGconn *);
    int (*consumeInput)(PGconn *);
    int (*isBusy)(PGconn *);
    int (*sendQuery)(PGconn *, const char *);
    int (*sendQueryParams)(PGconn *, const char *, int, const Oid *, const char *const *, const int *,
                           const int *, int);
    PGresult *(*getResult)(PGconn *);
    int (*enterPipelineMode)(PGconn *);
    int (*exitPipelineMode)(PGconn *);
    int (*pipelineSync)(PGconn *);
    int (*sendFlushRequest)(PGconn *);
    ExecStatusType (*resultStatus)(const PGresult *);
    char *(*resultErrorField)(const PGresult *, int);
    int (*ntuples)(const PGresult *);
    int (*nfields)(const PGresult *);
    char *(*getvalue)(const PGresult *, int, int);
    int (*getlength)(const PGresult *, int, int);
    int (*getisnull)(const PGresult *, int, int);
    char *(*cmdTuples)(PGresult *);
    void (*clear)(PGresult *);
} P;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;            /* 1 ok, -1 failed */
static char load_error[512];
static int lib_version;

static int fail(char *err, size_t errlen, const char *a, const char *b) {
    snprintf(load_error, sizeof load_error, "%s%s", a, b ? b : "");
    loaded = -1;
    if (err && errlen) snprintf(err, errlen, "%s", load_error);
    return -1;
}

int hl_pq_load(char *err, size_t errlen) {
    pthread_mutex_lock(&load_lock);
    if (loaded == 0) {
        /* RTLD_LAZY: libpq brings some twenty libraries (Kerberos, LDAP, GnuTLS…) whose
         * functions a connection mostly never calls; binding all of them now cost a fresh
         * process (every job step, every `ls`) about 5 ms in the middle of its first call. The
         * functions used here are looked up below, so a broken libpq still fails at once. */
        void *h = dlopen("libpq.so.5", RTLD_LAZY | RTLD_LOCAL);
        if (!h) {
            const char *why = dlerror();
            fail(err, errlen, "PostgreSQL metadata needs libpq (Debian: apt-get install libpq5): ", why);
            pthread_mutex_unlock(&load_lock);
            return -1;
        }
#define SYM(field, name)                                                        \
        if (!(*(void **)&P.field = dlsym(h, name))) {                            \
            fail(err, errlen, "libpq is too old (PostgreSQL 14 or later needed): it lacks ", name); \
            pthread_mutex_unlock(&load_lock);                                    \
            return -1;                                                           \
        }
        SYM(libVersion, "PQlibVersion")
        SYM(connectStartParams, "PQconnectStartParams")
        SYM(connectPoll, "PQconnectPoll")
        SYM(status, "PQstatus")
        SYM(errorMessage, "PQerrorMessage")
        SYM(finish, "PQfinish")
        SYM(socket, "PQsocket")
        SYM(host, "PQhost")
        SYM(port, "PQport")
        SYM(db, "PQdb")
        SYM(transactionStatus, "PQtransactionStatus")
        SYM(setErrorVerbosity, "PQsetErrorVerbosity")
        SYM(setNoticeProcessor, "PQsetNoticeProcessor")
        SYM(setnonblocking, "PQsetnonblocking")
        SYM(flush, "PQflush")
        SYM(consumeInput, "PQconsumeInput")
        SYM(isBusy, "PQisBusy")
        SYM(sendQuery, "PQsendQuery")
        SYM(sendQueryParams, "PQsendQueryParams")
        SYM(getResult, "PQgetResult")
        SYM(enterPipelineMode, "PQenterPipelineMode")
        SYM(exitPipelineMode, "PQexitPipelineMode")
        SYM(pipelineSync, "PQpipelineSync")
        SYM(sendFlushRequest, "PQsendFlushRequest")
        SYM(resultStatus, "PQresultStatus")
        SYM(resultErrorField, "PQresultErrorField")
        SYM(ntuples, "PQntuples")
        SYM(nfields, "PQnfields")
        SYM(getvalue, "PQgetvalue")
        SYM(getlength, "PQgetlength")
        SYM(getisnull, "PQgetisnull")
        SYM(cmdTuples, "PQcmdTuples")
        SYM(clear, "PQclear")
#undef SYM
        lib_version = P.libVersion();
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

int hl_pq_lib_version(void) { return lib_version; }

/* Notices go nowhere: the program's stderr is not ours to write on. */
static void drop_notice(void *arg, const char *message) { (void)arg; (void)message; }

hl_pq_conn *hl_pq_connect_start(const char *conninfo) {
    if (loaded != 1) return NULL;
    /* Later entries override earlier ones, the expanded dbname included: the conninfo wins. */
    const char *const keys[] = {"fallback_application_name", "client_encoding", "dbname", NULL};
    const char *const vals[] = {"hilbert", "UTF8", conninfo, NULL};
    PGconn *c = P.connectStartParams(keys, vals, 1);
    if (!c) return NULL;
    P.setNoticeProcessor(c, drop_notice, NULL);
    P.setErrorVerbosity(c, PQERRORS_VERBOSE);
    return (hl_pq_conn *)c;
}

#define CONN(c) ((PGconn *)(c))
#define RES(r) ((PGresult *)(r))

int hl_pq_connect_poll(hl_pq_conn *c) { return (int)P.connectPoll(CONN(c)); }
int hl_pq_status(const hl_pq_conn *c) { return (int)P.status(CONN(c)); }
const char *hl_pq_error_message(const hl_pq_conn *c) { return P.errorMessage(CONN(c)); }
void hl_pq_finish(hl_pq_conn *c) { P.finish(CONN(c)); }
int hl_pq_socket(const hl_pq_conn *c) { return P.socket(CONN(c)); }
const char *hl_pq_host(const hl_pq_conn *c) { return P.host(CONN(c)); }
const char *hl_pq_port(const hl_pq_conn *c) { return P.port(CONN(c)); }
const char *hl_pq_db(const hl_pq_conn *c) { return P.db(CONN(c)); }
int hl_pq_transaction_status(const hl_pq_conn *c) { return (int)P.transactionStatus(CONN(c)); }
int hl_pq_set_error_verbosity(hl_pq_conn *c, int v) { return (int)P.setErrorVerbosity(CONN(c), (PGVerbosity)v); }

long long hl_pq_bytes_sent(const hl_pq_conn *c) {
    int fd = P.socket(CONN(c));
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -1;
    if (len < offsetof(struct tcp_info, tcpi_bytes_sent) + sizeof ti.tcpi_bytes_sent) return -1;
    return (long long)ti.tcpi_bytes_sent;
}

int hl_pq_set_nonblocking(hl_pq_conn *c, int on) { return P.setnonblocking(CONN(c), on); }
int hl_pq_flush(hl_pq_conn *c) { return P.flush(CONN(c)); }
int hl_pq_consume_input(hl_pq_conn *c) { return P.consumeInput(CONN(c)); }
int hl_pq_is_busy(hl_pq_conn *c) { return P.isBusy(CONN(c)); }
int hl_pq_send_query(hl_pq_conn *c, const char *sql) { return P.sendQuery(CONN(c), sql); }
int hl_pq_send_query_params(hl_pq_conn *c, const char *sql, int n, const uint32_t *types,
                            const char *const *values, const int *lengths, const int *formats,
                            int result_format) {
    _Static_assert(sizeof(Oid) == sizeof(uint32_t), "Oid");
    return P.sendQueryParams(CONN(c), sql, n, (const Oid *)types, values, lengths, formats, result_format);
}
hl_pq_result *hl_pq_get_result(hl_pq_conn *c) { return (hl_pq_result *)P.getResult(CONN(c)); }

int hl_pq_enter_pipeline_mode(hl_pq_conn *c) { return P.enterPipelineMode(CONN(c)); }
int hl_pq_exit_pipeline_mode(hl_pq_conn *c) { return P.exitPipelineMode(CONN(c)); }
int hl_pq_pipeline_sync(hl_pq_conn *c) { return P.pipelineSync(CONN(c)); }
int hl_pq_send_flush_request(hl_pq_conn *c) { return P.sendFlushRequest(CONN(c)); }

int hl_pq_result_status(const hl_pq_result *r) { return (int)P.resultStatus(RES(r)); }
const char *hl_pq_result_error_field(const hl_pq_result *r, int f) { return P.resultErrorField(RES(r), f); }
int hl_pq_ntuples(const hl_pq_result *r) { return P.ntuples(RES(r)); }
int hl_pq_nfields(const hl_pq_result *r) { return P.nfields(RES(r)); }
const char *hl_pq_getvalue(const hl_pq_result *r, int row, int col) { return P.getvalue(RES(r), row, col); }
int hl_pq_getlength(const hl_pq_result *r, int row, int col) { return P.getlength(RES(r), row, col); }
int hl_pq_getisnull(const hl_pq_result *r, int row, int col) { return P.getisnull(RES(r), row, col); }
const char *hl_pq_cmd_tuples(hl_pq_result *r) { return P.cmdTuples(RES(r)); }
void hl_pq_clear(hl_pq_result *r) { P.clear(RES(r)); }

