#include "storejobs.h"

#include "sagajson.h"
#include "sagalog.h"
#include "sagastore.h"

#include <QElapsedTimer>

namespace StoreJobs {

InitialLoad loadAll(SagaStore &store, const std::function<void(QVector<OrderProgress>)> &chunk)
{
    qsizetype nextChunk = 5000;
    InitialLoad result;
    QElapsedTimer timer;
    timer.start();
    StoreError error;
    result.lastPosition = store.lastPosition(&error);
    if (error) {
        result.error = error.message;
        result.unavailable = error.kind == StoreError::Unavailable;
        return result;
    }
    OrderListFilter filter;
    filter.limit = 1000;
    for (;;) {
        StoreResult<OrderListPage> page = store.listOrders(filter);
        if (!page.ok()) {
            result.error = page.error.message;
            result.unavailable = page.error.kind == StoreError::Unavailable;
            return result;
        }
        result.count += int(page.value.orders.size());
        result.snapshots += std::move(page.value.orders);
        if (chunk && result.snapshots.size() >= nextChunk) {
            chunk(std::exchange(result.snapshots, {}));
            nextChunk = 25000;
        }
        if (page.value.nextCursor.isEmpty())
            break;
        filter.after = page.value.nextCursor;
    }
    qCInfo(lcSources) << "loaded" << result.count << "orders in" << timer.elapsed() << "ms";
    return result;
}

EventsAfter eventsAfter(SagaStore &store, qint64 afterPosition, int limit)
{
    EventsAfter result;
    result.lastPosition = afterPosition;
    StoreResult<QVector<OrderEvent>> events = store.loadEventsAfterPosition(afterPosition, limit);
    if (!events.ok()) {
        result.error = events.error.message;
        result.unavailable = events.error.kind == StoreError::Unavailable;
        return result;
    }
    result.events = std::move(events.value);
    for (const OrderEvent &e : std::as_const(result.events))
        result.lastPosition = std::max(result.lastPosition, e.position);
    result.more = result.events.size() >= limit;
    return result;
}

CaseResult loadCase(SagaStore &store, const QUuid &orderId)
{
    CaseResult result;
    result.orderCase.orderId = orderId;
    StoreResult<QVector<OrderEvent>> events = store.loadEvents(orderId, 0);
    if (!events.ok()) {
        result.error = events.error.kind == StoreError::NotFound
                           ? QObject::tr("The order was not found in the database.")
                           : QObject::tr("The order's events could not be read. Check the database "
                                         "connection and try again.");
        return result;
    }
    result.orderCase.history = HistoryBuilder::build(events.value);
    for (const OrderEvent &e : std::as_const(events.value))
        result.orderCase.rawEvents.append(SagaJson::rawEventToJson(e));
    return result;
}

} // namespace StoreJobs
