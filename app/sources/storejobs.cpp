#include "storejobs.h"

#include "etaestimator.h"
#include "sagajson.h"
#include "sagalog.h"
#include "sagastore.h"
#include "snapshotreader.h"

#include <QElapsedTimer>

namespace StoreJobs {

InitialLoad loadAll(SagaStore &store, const QString &connectionName,
                    const std::function<void(QVector<OrderProgress>)> &chunk)
{
    InitialLoad result;
    QElapsedTimer timer;
    timer.start();
    StoreError error;
    result.lastPosition = store.lastPosition(&error);
    if (error) {
        result.error = error;
        return result;
    }
    // One keyset page of orders with all their events per chunk, folded while read
    // (SnapshotReader), on the store's own connection in this thread.
    SnapshotReader reader(connectionName);
    error = reader.readAll(
        [&](QVector<OrderProgress> snapshots) {
            if (chunk)
                chunk(std::move(snapshots));
            else
                result.snapshots += std::move(snapshots);
        },
        &result.count);
    if (error) {
        result.error = error;
        return result;
    }
    // The step history behind the ETA estimates (not fatal when it cannot be read).
    StoreResult<QVector<QPair<SagaStep, qint64>>> durations =
        store.recentStepDurations(EtaEstimator::kWindow * kStepCount);
    if (durations.ok())
        result.stepDurations = std::move(durations.value);
    else
        qCWarning(lcSources).noquote() << "step history not read:" << durations.error.message;
    qCInfo(lcSources) << "loaded" << result.count << "orders in" << timer.elapsed() << "ms";
    return result;
}

EventsAfter eventsAfter(SagaStore &store, qint64 afterPosition, int limit)
{
    EventsAfter result;
    result.lastPosition = afterPosition;
    StoreResult<QVector<OrderEvent>> events = store.loadEventsAfterPosition(afterPosition, limit);
    if (!events.ok()) {
        result.error = events.error;
        return result;
    }
    result.events = std::move(events.value);
    for (const OrderEvent &e : std::as_const(result.events))
        result.lastPosition = std::max(result.lastPosition, e.position);
    result.more = result.events.size() >= limit;
    return result;
}

StoreResult<EventMark> markAt(SagaStore &store, qint64 position)
{
    StoreResult<EventMark> r;
    if (position <= 0)
        return r;
    StoreResult<QVector<OrderEvent>> events = store.loadEventsAfterPosition(position - 1, 1);
    if (!events.ok())
        r.error = events.error;
    else if (!events.value.isEmpty() && events.value.constFirst().position == position)
        r.value = EventMark::of(events.value.constFirst());
    return r;
}

StoreResult<bool> stillThere(SagaStore &store, const EventMark &mark)
{
    StoreResult<bool> r;
    r.value = true;
    if (mark.position <= 0)
        return r;
    StoreResult<EventMark> now = markAt(store, mark.position);
    r.error = now.error;
    r.value = now.value.orderId == mark.orderId && now.value.seq == mark.seq;
    return r;
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
    StoreResult<OrderRecord> record = store.loadOrder(orderId);
    if (record.ok())
        result.orderCase.record = std::move(record.value);
    return result;
}

} // namespace StoreJobs
