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

#include <QString>
#include <QUuid>
#include <QVector>
#include <memory>

struct OrderListFilter {
    std::optional<OverallStatus> status;
    QString query;     // matches order id, order number or customer id (prefix / contains)
    int limit = 100;   // 1..1000
    QString after;     // opaque cursor from the previous page ("" = first page)
};

struct OrderListPage {
    QVector<OrderProgress> orders; // status snapshots folded from events, newest first
    QString nextCursor;            // empty when this is the last page
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
    bool isOpen() const;
    // Reconnects after a lost connection (cheap when still connected).
    StoreError reconnect();
    const DatabaseUrl &url() const;

    // ---- reads -----------------------------------------------------------
    StoreResult<OrderRecord> loadOrder(const QUuid &orderId);
    // Events of one order with seq > afterSeq, in seq order.
    StoreResult<QVector<OrderEvent>> loadEvents(const QUuid &orderId, qint64 afterSeq = 0);
    // Events of all orders with position > afterPosition in commit order, at most `limit`.
    StoreResult<QVector<OrderEvent>> loadEventsAfterPosition(qint64 afterPosition, int limit);
    qint64 lastPosition(StoreError *error = nullptr);
    StoreResult<OrderListPage> listOrders(const OrderListFilter &filter);
    StoreResult<QVector<OrderRecord>> ordersForCustomer(const QUuid &customerId);
    StoreResult<QVector<ExecutionRecord>> executions(const QUuid &orderId);
    StoreResult<QVector<RetryAttempt>> retryAttempts(const QUuid &orderId);
    // Snapshot folded from the events of one order (NotFound when unknown).
    StoreResult<OrderProgress> loadProgress(const QUuid &orderId);
    // Finished step durations (ms) of the most recent `limit` steps, to seed an EtaEstimator.
    StoreResult<QVector<QPair<SagaStep, qint64>>> recentStepDurations(int limit);

    // ---- writes: engine only ---------------------------------------------
    // (declared by the engine/store implementation below this line)

private:
    struct Private;
    std::unique_ptr<Private> d;
};
