#pragma once

// PostgreSQL through libpq directly where QtSql's per-value work dominates: the
// readers that move hundreds of thousands of rows (SnapshotReader) and the
// engine's batch commit (queryRow: large parameters, no literal). Bulk reads use `COPY (SELECT ...) TO STDOUT
// (FORMAT binary)` on the PGconn of an open QPSQL connection
// (QSqlDriver::handle()), one callback per row with the raw field bytes. No
// QVariant and no UTF-16 QString per value (QPSQL's per-value work was most of
// the client's time in the snapshot scan); integers arrive as big-endian
// binary, text as its UTF-8 bytes.
//
// Use it only in the thread that owns the QSqlDatabase connection, and only
// while no QSqlQuery on that connection has rows pending (usableConnection()
// checks). It leaves the connection idle with every result consumed, as QPSQL
// expects.

#include "storeerror.h"

#include <QByteArray>
#include <QList>
#include <QtEndian>
#include <cstring>
#include <functional>

class QSqlDatabase;

namespace PgCopy {

// One field of a row as the server sent it (binary format). Valid only during
// the row callback.
struct Field {
    const char *data = nullptr;
    int size = -1; // -1: NULL
    bool isNull() const { return size < 0; }
    bool equals(const QByteArray &text) const
    {
        return size == int(text.size()) && std::memcmp(data, text.constData(), size_t(size)) == 0;
    }
    // Binary int2/int4/int8 (what the column's type sends); 0 for NULL or any
    // other width.
    qint64 toInt() const
    {
        switch (size) {
        case 8: return qFromBigEndian<qint64>(data);
        case 4: return qFromBigEndian<qint32>(data);
        case 2: return qFromBigEndian<qint16>(data);
        default: return 0;
        }
    }
};

// The connection's PGconn when `db` is an open QPSQL connection that is idle
// or in a transaction (no query with rows pending); nullptr otherwise (the
// caller then reads through QtSql, which also reports a broken connection).
void *usableConnection(const QSqlDatabase &db);
// Whether `db` is an open QPSQL connection whose libpq connection is known broken
// (the server closed it); false for anything else.
bool connectionBroken(const QSqlDatabase &db);
// connectionBroken(), after reading without waiting whatever the server sent while
// the connection sat idle (a server shutting down, or pg_terminate_backend, says
// goodbye and closes): a connection ended since its last use is found before a
// statement is sent on it. False when the connection is not idle.
bool endedWhileIdle(const QSqlDatabase &db);
// Why libpq says `db`'s connection is broken, its first line ("server closed the
// connection unexpectedly"); empty when it is not.
QString brokenReason(const QSqlDatabase &db);
// A server that ends an idle session (pg_terminate_backend, a shutdown) says why
// first, but libpq hands that FATAL message to its notice receiver, not to a query:
// QPSQL, reading the socket for LISTEN notifications, swallows it and only finds
// the connection closed. This keeps the sentence ("terminating connection due to
// administrator command") in *lastWords, which must outlive the connection; it is
// cleared here. Call again after every (re)open. Other notices go on to libpq's
// default handling.
void keepLastWords(const QSqlDatabase &db, QString *lastWords);

// Runs `COPY (select) TO STDOUT (FORMAT binary)` on `conn` and calls `row` with
// `columns` fields for every row, in the order the server sends them. `what`
// prefixes the error message. A lost connection (broken socket, server shut
// down, backend terminated: SQLSTATE 08*, 57P*) gives StoreError::Unavailable,
// anything else StoreError::Invalid; the connection is drained and idle after
// either (unless it is gone).
StoreError copyRows(void *conn, const QByteArray &select, int columns,
                    const std::function<void(const Field *)> &row, const QString &what);

// One parameter of queryRow(): its bytes in text or in binary format (then in
// the layout of the type's send function, e.g. PgBinary::RecordArray). A null
// QByteArray is SQL NULL.
struct Param {
    QByteArray value;
    bool binary = false;
};

// Runs `sql` with parameters $1, $2, ... (the server infers each one's type from
// the statement) and answers the first row's fields in text format (NULL -> null
// QByteArray; no row, or a command that returns none such as BEGIN -> empty list). No SQL literal is built or scanned, whatever
// the size of the parameters. Errors as in copyRows(); `sqlState` (optional)
// receives the error's SQLSTATE.
StoreResult<QList<QByteArray>> queryRow(void *conn, const char *sql, const QList<Param> &params,
                                        const QString &what, QByteArray *sqlState = nullptr);

// Sets the session setting `name` to `value` (set_config(), not transaction
// local) and returns its previous value, so the caller can put it back the same
// way; a null value when the server has no such setting (then nothing is set).
// Errors as in copyRows().
StoreResult<QByteArray> swapSetting(void *conn, const QByteArray &name, const QByteArray &value,
                                    const QString &what);

// QPSQL delivers LISTEN notifications that libpq read while a query ran (the
// socket does not signal them again); after reading the connection directly,
// ask the driver to look at libpq's queue as it does after its own queries.
void deliverPendingNotifications(const QSqlDatabase &db);

} // namespace PgCopy
