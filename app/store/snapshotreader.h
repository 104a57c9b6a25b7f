#pragma once

// Bulk reader of order snapshots for a console's first load: every order's
// OrderProgress, folded from its events with the one fold (OrderProgress::apply),
// in two set-based queries instead of one query per page of orders:
//  1. the newest `firstChunk` orders joined with their events (keyset on
//     created_at DESC, id DESC), folded and handed over at once (first paint);
//  2. one forward-only scan of order_events in storage order (no sort, no index
//     lookups) folded per order in memory; the fold orders each order's events by
//     seq itself. Then newest first, in chunks. On SQLite (QtSql) event_type and
//     step_name come as small integers (CASE in SQL) and on a file the scan is
//     split by order id in two halves folded in parallel, one on a second
//     connection (a clone of this one) in a helper thread. On PostgreSQL both
//     reads bypass QtSql: binary COPY through libpq on the connection's own
//     PGconn (PgCopy), the raw bytes decoded without QVariant/QString per value.
// The snapshots are exactly what SagaStore::loadProgress() folds for the same
// orders (tests/integration/store/tst_snapshotreader.cpp).
//
// Like SagaStore it uses a named QSqlDatabase connection (normally the one a
// SagaStore opened: pass the same connection name) and must be used only in the
// thread that opened that connection.

#include "orderprogress.h"
#include "storeerror.h"

#include <QString>
#include <QUuid>
#include <QVector>
#include <functional>
#include <vector>

class QSqlQuery;

class SnapshotReader
{
public:
    explicit SnapshotReader(const QString &connectionName);

    struct Options {
        int firstChunk = 2000; // orders in the first chunk (early first paint)
        int chunk = 25000;     // orders in every later chunk
    };
    // Reads every order (the first chunk newest first, the rest after the scan,
    // newest first), handing each chunk to `chunk` in this thread. Returns the
    // number of orders read in `count`.
    StoreError readAll(const std::function<void(QVector<OrderProgress>)> &chunk, const Options &options,
                       int *count = nullptr);
    StoreError readAll(const std::function<void(QVector<OrderProgress>)> &chunk, int *count = nullptr)
    {
        return readAll(chunk, Options(), count);
    }

    // Whether the last readAll() read PostgreSQL through libpq (PgCopy) rather
    // than QtSql (for tests and logs).
    bool lastReadUsedLibpq() const { return m_usedLibpq; }
    // Whether the last readAll() scanned SQLite's events through the connection's
    // sqlite3 handle rather than QtSql (for tests).
    bool lastReadUsedSqliteHandle() const { return m_usedSqliteHandle; }

    // Snapshots of the given orders (unknown ones are left out), in the order given.
    StoreResult<QVector<OrderProgress>> read(const QVector<QUuid> &orderIds);

private:
    StoreError failure(const QSqlQuery &q, const QString &what) const;
    // readAll() on PostgreSQL through libpq (`conn`: PgCopy::usableConnection()):
    // JIT off for the session meanwhile, then the two reads (readPostgres()).
    StoreError readAllPostgres(void *conn, const std::function<void(QVector<OrderProgress>)> &chunk,
                               const Options &options, int *count);
    StoreError readPostgres(void *conn, const std::function<void(QVector<OrderProgress>)> &chunk,
                            const Options &options, int *count);
    // Re-reads orders left with buffered events, sorts `rest` and `more` (two
    // halves of one scan) together newest first and hands them over in chunks;
    // `delivered` orders went out before.
    StoreError deliverRest(std::vector<OrderProgress> &rest, std::vector<OrderProgress> &more, int delivered,
                           int rejected,
                           const std::function<void(QVector<OrderProgress>)> &chunk, const Options &options,
                           int *count);

    QString m_connectionName;
    bool m_usedLibpq = false;
    bool m_usedSqliteHandle = false;
};
