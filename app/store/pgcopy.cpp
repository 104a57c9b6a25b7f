#include "pgcopy.h"
#include "sqlerror.h"

#include <QMetaObject>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QVarLengthArray>
#include <QVariant>

#include <libpq-fe.h>

#include <atomic>

namespace PgCopy {

namespace {

// The binary COPY file header: signature, flags, header extension length.
constexpr char kSignature[] = "PGCOPY\n\377\r\n";
constexpr int kSignatureSize = 11; // including the terminating zero byte

QString text(const char *message)
{
    return QString::fromUtf8(message).trimmed();
}

// The first line of a libpq message, without its severity ("FATAL:  ").
QString firstLine(const QString &message)
{
    static const QRegularExpression severity(QStringLiteral("^[A-Z]+:\\s+"));
    QString line = message.section(QLatin1Char('\n'), 0, 0).trimmed();
    line.remove(severity);
    return line;
}

// A server that shuts down or ends a session while it is idle says so (an error,
// then the end of the stream): reads what is there without waiting, so PQstatus
// tells. Twice: the goodbye is read and parsed first (a notice), the end of the
// stream by the next read. Does nothing on a connection that is not idle.
void readWhatCameWhileIdle(PGconn *conn)
{
    for (int i = 0; i < 2 && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE; ++i) {
        if (!PQconsumeInput(conn))
            break;
        PQisBusy(conn);
    }
}

// Gone, or busy in a way that passes (storeerror.h): try again later.
bool unavailable(PGconn *conn, const char *sqlState)
{
    return PQstatus(conn) == CONNECTION_BAD || (sqlState && isTransientSqlState(QByteArray(sqlState)));
}

StoreError errorOf(PGconn *conn, const PGresult *result, const QString &what)
{
    StoreError err;
    const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    // The server's sentence and its detail; not the CONTEXT lines, which quote
    // the whole statement of the batch function (a page of SQL per log line).
    QString reason = text(result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr);
    if (!reason.isEmpty()) {
        const QString detail = text(PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL));
        if (!detail.isEmpty())
            reason += QStringLiteral(" (") + (detail.size() > 300 ? detail.left(300) + QStringLiteral("…") : detail)
                + QLatin1Char(')');
    } else {
        const char *message = result ? PQresultErrorMessage(result) : nullptr;
        reason = text(message && *message ? message : PQerrorMessage(conn));
    }
    if (reason.isEmpty())
        reason = QStringLiteral("no connection to the server");
    err.sqlState = state ? QByteArray(state) : QByteArray();
    err.serverText = text(result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr);
    if (err.serverText.isEmpty())
        err.serverText = firstLine(reason);
    err.kind = unavailable(conn, state) ? StoreError::Unavailable : StoreError::Invalid;
    if (err.kind == StoreError::Unavailable)
        err.outage = postgresOutage(QByteArray(state ? state : ""), PQstatus(conn) == CONNECTION_BAD);
    err.message = what + QStringLiteral(": ") + reason;
    return err;
}

// Reads every remaining result, so the connection is idle again.
void drain(PGconn *conn)
{
    while (PGresult *r = PQgetResult(conn)) {
        const ExecStatusType status = PQresultStatus(r);
        PQclear(r);
        if (status == PGRES_COPY_OUT) {
            char *buffer = nullptr;
            int n;
            while ((n = PQgetCopyData(conn, &buffer, 0)) > 0)
                PQfreemem(buffer);
            if (n == -2)
                return;
        }
        if (PQstatus(conn) == CONNECTION_BAD)
            return;
    }
}

// Parses the rows of one CopyData message (the server sends one row per
// message, the file header in front of the first row and the trailer alone).
class Parser
{
public:
    Parser(int columns, const std::function<void(const Field *)> &row)
        : m_columns(columns), m_row(row), m_fields(columns)
    {
    }

    // false: malformed data (the message says why).
    bool feed(const char *data, int size)
    {
        int pos = 0;
        if (!m_headerSeen) {
            if (size < kSignatureSize + 8 || std::memcmp(data, kSignature, kSignatureSize) != 0)
                return fail("no binary COPY header");
            const quint32 flags = qFromBigEndian<quint32>(data + kSignatureSize);
            const qint32 extension = qFromBigEndian<qint32>(data + kSignatureSize + 4);
            if ((flags & 0xffff0000u) != 0 || extension < 0 || kSignatureSize + 8 + extension > size)
                return fail("unsupported binary COPY header");
            pos = kSignatureSize + 8 + extension;
            m_headerSeen = true;
        }
        while (pos < size) {
            if (m_trailerSeen)
                return fail("data after the COPY trailer");
            if (size - pos < 2)
                return fail("truncated row");
            const qint16 count = qFromBigEndian<qint16>(data + pos);
            pos += 2;
            if (count == -1) {
                m_trailerSeen = true;
                continue;
            }
            if (count != m_columns)
                return fail("unexpected number of columns");
            for (int i = 0; i < m_columns; ++i) {
                if (size - pos < 4)
                    return fail("truncated row");
                const qint32 length = qFromBigEndian<qint32>(data + pos);
                pos += 4;
                Field &f = m_fields[i];
                if (length < 0) {
                    f.data = nullptr;
                    f.size = -1;
                    continue;
                }
                if (length > size - pos)
                    return fail("truncated field");
                f.data = data + pos;
                f.size = length;
                pos += length;
            }
            m_row(m_fields.constData());
        }
        return true;
    }

    QString error() const { return m_error; }

private:
    bool fail(const char *why)
    {
        m_error = QStringLiteral("malformed COPY data (%1)").arg(QLatin1String(why));
        return false;
    }

    const int m_columns;
    const std::function<void(const Field *)> &m_row;
    QVarLengthArray<Field, 8> m_fields;
    bool m_headerSeen = false;
    bool m_trailerSeen = false;
    QString m_error;
};

} // namespace

// The PGconn of a QPSQL connection (whatever its state), or null.
static PGconn *pgConnOf(const QSqlDatabase &db)
{
    if (!db.isValid() || db.driverName() != QLatin1String("QPSQL") || !db.driver())
        return nullptr;
    const QVariant handle = db.driver()->handle();
    // QPSQL wraps its PGconn* (a typedef of pg_conn*; Qt 6 names the metatype
    // after the struct, older releases after the typedef).
    if (!handle.isValid()
        || (qstrcmp(handle.typeName(), "pg_conn*") != 0 && qstrcmp(handle.typeName(), "PGconn*") != 0))
        return nullptr;
    return *static_cast<PGconn *const *>(handle.constData());
}

void *usableConnection(const QSqlDatabase &db)
{
    PGconn *conn = db.isOpen() ? pgConnOf(db) : nullptr;
    if (!conn)
        return nullptr;
    // A query with rows still pending on this connection (PQTRANS_ACTIVE): QPSQL
    // owns it; a broken connection: let the caller's QtSql path report it.
    const PGTransactionStatusType state = PQtransactionStatus(conn);
    if (state != PQTRANS_IDLE && state != PQTRANS_INTRANS)
        return nullptr;
    return conn;
}

bool connectionBroken(const QSqlDatabase &db)
{
    // (Not db.isOpen(): QPSQL answers it from the same PQstatus.)
    PGconn *conn = pgConnOf(db);
    return conn && PQstatus(conn) != CONNECTION_OK;
}

bool endedWhileIdle(const QSqlDatabase &db)
{
    PGconn *conn = pgConnOf(db);
    if (!conn)
        return false;
    readWhatCameWhileIdle(conn);
    return PQstatus(conn) != CONNECTION_OK;
}

QString brokenReason(const QSqlDatabase &db)
{
    PGconn *conn = pgConnOf(db);
    if (!conn || PQstatus(conn) == CONNECTION_OK)
        return {};
    return firstLine(text(PQerrorMessage(conn)));
}

namespace {
// libpq's own notice receiver (it prints through the notice processor and ignores its argument).
std::atomic<PQnoticeReceiver> s_libpqReceiver{nullptr};

void lastWordsReceiver(void *arg, const PGresult *result)
{
    const char *severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (!severity)
        severity = PQresultErrorField(result, PG_DIAG_SEVERITY);
    if (severity && (qstrcmp(severity, "FATAL") == 0 || qstrcmp(severity, "PANIC") == 0))
        *static_cast<QString *>(arg) = text(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY));
    if (PQnoticeReceiver libpq = s_libpqReceiver.load())
        libpq(nullptr, result);
}
} // namespace

void keepLastWords(const QSqlDatabase &db, QString *lastWords)
{
    lastWords->clear();
    PGconn *conn = db.isOpen() ? pgConnOf(db) : nullptr;
    if (!conn)
        return;
    const PQnoticeReceiver previous = PQsetNoticeReceiver(conn, &lastWordsReceiver, lastWords);
    if (previous && previous != &lastWordsReceiver)
        s_libpqReceiver.store(previous);
}

StoreError copyRows(void *handle, const QByteArray &select, int columns,
                    const std::function<void(const Field *)> &row, const QString &what)
{
    PGconn *conn = static_cast<PGconn *>(handle);
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return StoreError::unavailable(what + QStringLiteral(": no connection to the server"), StoreError::Outage::Unreachable);
    const QByteArray sql = "COPY (" + select + ") TO STDOUT (FORMAT binary)";
    if (!PQsendQuery(conn, sql.constData())) {
        const StoreError err = errorOf(conn, nullptr, what);
        drain(conn);
        return err;
    }
    PGresult *start = PQgetResult(conn);
    if (!start || PQresultStatus(start) != PGRES_COPY_OUT) {
        StoreError err = errorOf(conn, start, what);
        if (start && PQresultStatus(start) != PGRES_FATAL_ERROR && err.kind == StoreError::Invalid)
            err.message = what + QStringLiteral(": unexpected result (%1)")
                                     .arg(QLatin1String(PQresStatus(PQresultStatus(start))));
        PQclear(start);
        drain(conn);
        return err;
    }
    PQclear(start);

    Parser parser(columns, row);
    bool malformed = false;
    char *buffer = nullptr;
    int n;
    while ((n = PQgetCopyData(conn, &buffer, 0)) > 0) {
        if (!malformed && !parser.feed(buffer, n))
            malformed = true; // read the rest without looking, so the connection stays usable
        PQfreemem(buffer);
        buffer = nullptr;
    }
    if (n == -2) { // the connection broke (or the server sent garbage)
        const StoreError err = errorOf(conn, nullptr, what);
        drain(conn);
        return err;
    }
    // n == -1: the COPY is over; its final result says whether it succeeded.
    PGresult *end = PQgetResult(conn);
    StoreError err;
    if (!end || PQresultStatus(end) != PGRES_COMMAND_OK)
        err = errorOf(conn, end, what);
    PQclear(end);
    drain(conn);
    if (err.ok() && malformed)
        err = StoreError{StoreError::Invalid, what + QStringLiteral(": ") + parser.error()};
    return err;
}

StoreResult<QList<QByteArray>> queryRow(void *handle, const char *sql, const QList<Param> &params,
                                        const QString &what, QByteArray *sqlState)
{
    StoreResult<QList<QByteArray>> r;
    PGconn *conn = static_cast<PGconn *>(handle);
    // A server that shut down or ended this session while it was idle has said so
    // already: read it, so the statement is known not sent instead of cut off in flight.
    if (conn)
        readWhatCameWhileIdle(conn);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        r.error = conn ? errorOf(conn, nullptr, what)
                       : StoreError::unavailable(what + QStringLiteral(": no connection to the server"), StoreError::Outage::Unreachable);
        r.error.kind = StoreError::Unavailable;
        r.error.notWritten = true;
        return r;
    }
    QVarLengthArray<const char *, 16> values;
    QVarLengthArray<int, 16> lengths;
    QVarLengthArray<int, 16> formats;
    for (const Param &p : params) {
        values.append(p.value.isNull() ? nullptr : p.value.constData());
        lengths.append(int(p.value.size()));
        formats.append(p.binary ? 1 : 0);
    }
    PGresult *result = PQexecParams(conn, sql, int(params.size()), nullptr, values.constData(), lengths.constData(),
                                    formats.constData(), 0);
    if (PQresultStatus(result) == PGRES_TUPLES_OK || PQresultStatus(result) == PGRES_COMMAND_OK) {
        if (PQntuples(result) > 0) {
            for (int c = 0; c < PQnfields(result); ++c)
                r.value.append(PQgetisnull(result, 0, c) ? QByteArray()
                                                         : QByteArray(PQgetvalue(result, 0, c), PQgetlength(result, 0, c)));
        }
    } else {
        r.error = errorOf(conn, result, what);
        // An ERROR ends the statement's own transaction (it runs outside any other):
        // nothing of it was written. FATAL or PANIC, or no answer at all, may come
        // after a commit: unknown.
        const char *severity = result ? PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED) : nullptr;
        r.error.notWritten = severity && qstrcmp(severity, "ERROR") == 0 && PQstatus(conn) == CONNECTION_OK
            && PQtransactionStatus(conn) != PQTRANS_INERROR;
        if (sqlState && result) {
            const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
            *sqlState = state ? QByteArray(state) : QByteArray();
        }
    }
    PQclear(result);
    drain(conn);
    return r;
}

StoreResult<QByteArray> swapSetting(void *handle, const QByteArray &name, const QByteArray &value,
                                    const QString &what)
{
    StoreResult<QByteArray> r;
    PGconn *conn = static_cast<PGconn *>(handle);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        r.error = StoreError::unavailable(what + QStringLiteral(": no connection to the server"), StoreError::Outage::Unreachable);
        return r;
    }
    const char *params[2] = {name.constData(), value.constData()};
    PGresult *result = PQexecParams(conn,
                                    "SELECT current_setting($1, true), CASE WHEN current_setting($1, true) "
                                    "IS NOT NULL THEN set_config($1, $2, false) END",
                                    2, nullptr, params, nullptr, nullptr, 0);
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
        if (!PQgetisnull(result, 0, 0))
            r.value = QByteArray(PQgetvalue(result, 0, 0), PQgetlength(result, 0, 0));
    } else {
        r.error = errorOf(conn, result, what);
    }
    PQclear(result);
    drain(conn);
    return r;
}

void deliverPendingNotifications(const QSqlDatabase &db)
{
    QSqlDriver *driver = db.driver();
    if (!driver || driver->subscribedToNotifications().isEmpty())
        return;
    // QPSQL's own check after each of its queries (a private slot, queued).
    if (driver->metaObject()->indexOfMethod("_q_handleNotification()") >= 0)
        QMetaObject::invokeMethod(driver, "_q_handleNotification", Qt::QueuedConnection);
}

} // namespace PgCopy
