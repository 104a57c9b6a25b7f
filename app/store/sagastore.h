#pragma once

// The one place that talks SQL. A SagaStore owns one named QSqlDatabase
// connection and must be used only in the thread that created it (Qt: "Threads
// and the SQL Module"). Create one per thread.
//
// Read API (used by the server, the sources and the engine) is fixed below.
// Write API is used by the engine only (see the engine section).

#include "databaseurl.h"
#include "orderevent.h"
#include "orderprogress.h"
#include "orderrecord.h"
#include "storeerror.h"
#include "storetransition.h"

#include <QString>
#include <QUuid>
#include <QVector>
#include <functional>
#include <memory>

struct OrderListFilter {
    std::optional<OverallStatus> status;
    QString query;     // matches order id or customer id (prefix), order number, overall status, or the
                       // error code or message of a step of the latest execution (contains); case-insensitive
    int limit = 100;   // 1..1000
    QString after;     // opaque cursor from the previous page ("" = first page)

    // Whether `cursor` has the shape of a nextCursor listOrders() gave.
    static bool isCursor(const QString &cursor);
};

struct OrderListPage {
    QVector<OrderProgress> orders; // status snapshots folded from events, newest first
    QString nextCursor;            // empty when this is the last page
};

// What a retry decision reads of one order (SagaStore::retryRecord).
struct RetryRecord {
    ExecutionRecord latest;                // its newest execution
    std::optional<OrderEvent> lastFailure; // SAGA_FAILED, when that is its last event
    QVector<RetryAttempt> attempts;        // retry_attempts, oldest first
};

class SagaStore
{
public:
    SagaStore(const DatabaseUrl &url, const QString &connectionName);
    ~SagaStore();
    SagaStore(const SagaStore &) = delete;
    SagaStore &operator=(const SagaStore &) = delete;

    // Opens the connection and applies pending migrations from resources/sql.
    StoreError open();
    // A reader (call before open()): it reads what an engine made and changes
    // nothing. open() neither creates a SQLite file (a path that names none, or a
    // file deleted while in use, is reported missing instead of replaced by a new
    // empty database) nor applies migrations: a database without the tables, or
    // with another version's schema, is refused with what to do. On PostgreSQL its
    // transactions are read-only, so a role with SELECT rights only is enough.
    void setReadOnly(bool readOnly);
    // A reader's check, as open() and reconnect() make it: the tables are there, at
    // this program's schema version, and (PostgreSQL) this role may SELECT from each
    // (else Invalid, sqlState 42501, naming the tables). Says in words for people
    // why a read failed when the connection was fine.
    StoreError checkSchema();
    bool isOpen() const;
    // PostgreSQL: the server closed this connection (seen by the last call); a
    // reconnect() is due. Always false on SQLite.
    bool isConnectionBroken() const;
    // PostgreSQL: isConnectionBroken() after reading what the server sent while the
    // connection was idle (cheap, does not wait): true when the server ended it
    // since its last use (restart, pg_terminate_backend). Always false on SQLite.
    bool endedWhileIdle();
    // Reconnects after a lost connection (cheap when still connected). SQLite: by
    // default only to the file it opened (an engine never writes on into another
    // file put at the path, nor a new empty one where it was deleted); a reader
    // that shows whatever is at the path passes FileAtPath and follows a file put
    // there in its place (databaseIdentity() then changes). A reader checks the
    // schema again (checkSchema()), also when the connection was still there. An
    // engine's SQLite connection that SQLite opened read-only (the file could not be
    // written then) is opened again, so it writes once the file is writable.
    enum class Reopen { SameFileOnly, FileAtPath };
    StoreError reconnect(Reopen reopen = Reopen::SameFileOnly);
    // Whether a write commits now: one that changes nothing (the counter row
    // rewritten with its own values), so a database that lets a connection in but
    // refuses writes (read-only, disk full, another process holding SQLite's write
    // lock) is not taken for available. SQLite waits at most `busyMs` for the lock.
    StoreError checkWritable(int busyMs = 200);
    const DatabaseUrl &url() const;

    // ---- reads -----------------------------------------------------------
    StoreResult<OrderRecord> loadOrder(const QUuid &orderId);
    // Events of one order with seq > afterSeq, in seq order.
    StoreResult<QVector<OrderEvent>> loadEvents(const QUuid &orderId, qint64 afterSeq = 0);
    // Events of all orders with position > afterPosition in commit order, at most `limit`.
    StoreResult<QVector<OrderEvent>> loadEventsAfterPosition(qint64 afterPosition, int limit);
    qint64 lastPosition(StoreError *error = nullptr);
    // Which database this connection reads: PostgreSQL's database oid (a dropped and
    // recreated database is another one), or the SQLite file's device and inode (a
    // file copied or renamed over the path is another one). Empty with `error` set
    // when it cannot be read.
    QString databaseIdentity(StoreError *error = nullptr);
    StoreResult<OrderListPage> listOrders(const OrderListFilter &filter);
    StoreResult<QVector<OrderRecord>> ordersForCustomer(const QUuid &customerId);
    StoreResult<QVector<ExecutionRecord>> executions(const QUuid &orderId);
    StoreResult<QVector<RetryAttempt>> retryAttempts(const QUuid &orderId);
    // Snapshot folded from the events of one order (NotFound when unknown).
    // The order's events folded; `endDetails`, if given, gets the details of the
    // current execution's end (keepEndDetails), which the fold does not keep.
    StoreResult<OrderProgress> loadProgress(const QUuid &orderId, QJsonObject *endDetails = nullptr);
    // Finished step durations (ms) of the most recent `limit` steps (newest executions
    // first), to seed an EtaEstimator: completed_at - started_at of saga_step_results,
    // whose started_at is the resumed attempt's for a step taken over after an
    // interruption (BatchPlan), so they agree with StepProgress::durationMs().
    StoreResult<QVector<QPair<SagaStep, qint64>>> recentStepDurations(int limit);

    // ---- writes: engine only ---------------------------------------------
    // (declared by the engine/store implementation below this line)

    // Commits `batch` in ONE transaction: the state tables, one order_events row per
    // transition (UNIQUE(order_id, seq)), the global positions (taken from the
    // single-row counter, so positions are commit-ordered across engines) and, on
    // PostgreSQL, pg_notify('saga_events', '<orderId>:<seq>') for each event.
    // Every touched execution must be leased by `leaseOwner` (else Conflict and
    // nothing is written); new executions get a lease of `leaseMs`; terminal ones
    // drop their lease. Returns the committed events (position and, for new
    // orders, details.orderNumber filled in), in commit order.
    // A new order whose id may be taken already (StoreTransition::newOrderMayExist:
    // an Idempotency-Key's order, which another engine may be placing too) is looked
    // up inside the transaction, under a lock on its id (PostgreSQL: an advisory
    // transaction lock; SQLite: the write lock), and when it exists its saga's
    // transitions in the batch are left out and the rest committed: *leftOut (when
    // given) receives their indexes in `batch`; the events returned are the others'.
    // Batches without such orders take none of this.
    StoreResult<QVector<OrderEvent>> commitTransitions(const QVector<StoreTransition> &batch,
                                                       const QString &leaseOwner, qint64 leaseMs,
                                                       QVector<int> *leftOut = nullptr);
    // Whether the event (orderId, seq) is committed (resolves an ambiguous commit
    // after a lost connection). Returns the stored event when it is.
    StoreResult<std::optional<OrderEvent>> findEvent(const QUuid &orderId, qint64 seq);
    // Lease times (lease_expires_at, "expired") are the database server's clock on
    // PostgreSQL (engines on other hosts share no clock), this program's on SQLite.
    // Takes leases on up to `limit` non-terminal executions that nobody holds or
    // whose lease expired (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED);
    // with includeOwn also those `leaseOwner` already holds (restart of the same engine id).
    StoreResult<QVector<ClaimedExecution>> claimSagas(const QString &leaseOwner, qint64 leaseMs,
                                                      int limit, bool includeOwn = false);
    // Extends every non-terminal lease held by `leaseOwner`; returns how many.
    StoreResult<int> renewLeases(const QString &leaseOwner, qint64 leaseMs);
    // Gives up the leases of `executionIds` (empty: all of leaseOwner's).
    StoreError releaseLeases(const QString &leaseOwner, const QStringList &executionIds = {});
    // Test hook: this store's own clock readings (the times it writes, e.g.
    // updated_at, and on SQLite lease times) are `skewMs` off, as on a host whose
    // clock is wrong. Leases on PostgreSQL do not read this clock.
    void setClockSkewForTesting(qint64 skewMs);
    // The newest execution of an order (NotFound when the order is unknown).
    StoreResult<ExecutionRecord> latestExecution(const QUuid &orderId);
    // The last event of an order's newest execution that failed it, if any
    // (SAGA_FAILED), to decide retry eligibility.
    StoreResult<std::optional<OrderEvent>> lastSagaFailure(const QUuid &orderId);
    // latestExecution, lastSagaFailure and retryAttempts read in ONE snapshot (a
    // read transaction; PostgreSQL: REPEATABLE READ): another engine's retry
    // committed between separate reads mixed the failed execution with the new
    // attempt (a refusal for the wrong reason). NotFound when the order is unknown.
    StoreResult<RetryRecord> retryRecord(const QUuid &orderId);
    // Test hook: run inside retryRecord() between its first read and the others.
    void setBetweenRetryReadsForTesting(std::function<void()> hook);

private:
    struct Private;
    std::unique_ptr<Private> d;
};
