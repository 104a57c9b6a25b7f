#include "batchplan.h"

#include "pgbinary.h"
#include "storetext.h"

#include <QDateTime>
#include <QJsonObject>
#include <QHash>
#include <QSet>
#include <utility>

using namespace StoreText;

namespace {

// Transitions that change the order row's status (the others leave it alone).
bool changesOrder(const StoreTransition &t)
{
    const EventType type = t.event.type;
    return (type == EventType::SagaStarted && t.retry) || (type == EventType::StepStarted && t.event.step == SagaStep::Inventory)
        || (type == EventType::CompensationStarted && !t.event.step) || type == EventType::SagaCompleted
        || type == EventType::SagaFailed;
}

} // namespace

void BatchPlan::encode(StoreTransition &t)
{
    StoreTransition::Encoded &x = t.encoded;
    x.orderId = t.event.orderId.toByteArray(QUuid::WithoutBraces);
    x.executionId = t.executionId.toUtf8();
    x.details = t.newOrder ? QByteArray() : eventDetailsJson(t.event);
    x.stepResult.clear();
    if (!t.stepResult.isEmpty())
        appendJson(x.stepResult, t.stepResult);
}

namespace {

QByteArray orderIdUtf8(const StoreTransition &t)
{
    return t.encoded.orderId.isNull() ? t.event.orderId.toByteArray(QUuid::WithoutBraces) : t.encoded.orderId;
}

QByteArray executionIdUtf8(const StoreTransition &t)
{
    return t.encoded.executionId.isNull() ? t.executionId.toUtf8() : t.encoded.executionId;
}

} // namespace

int BatchPlan::countNewOrders(const QVector<StoreTransition> &batch)
{
    int n = 0;
    for (const StoreTransition &t : batch)
        n += t.newOrder ? 1 : 0;
    return n;
}

QString BatchPlan::orderNumber(const QString &day, qint64 number)
{
    return QStringLiteral("ORD-%1-%2").arg(day).arg(number, 6, 10, QLatin1Char('0'));
}

BatchPlan BatchPlan::build(const QVector<StoreTransition> &batch, QVector<OrderEvent> &events, qint64 leaseExpiresAt,
                           std::optional<qint64> firstOrderNumber)
{
    BatchPlan plan;
    plan.events.resize(batch.size());

    // The last transition per execution (its final state in this batch) and the
    // last status change per order: rows created by this batch are inserted in
    // that state instead of being inserted and then updated. Rows come out in the
    // order their execution or order first appears in the batch.
    // Executions are numbered in that order (execOf: each transition's execution;
    // finalExec: each execution's last transition), so the rest of the plan looks
    // them up by index instead of hashing their ids again.
    QHash<QString, int> execIndex;
    QVector<int> execOf(batch.size());
    QVector<const StoreTransition *> finalExec;
    QHash<QUuid, const StoreTransition *> orderChange;
    QVector<QUuid> changedOrders;
    execIndex.reserve(batch.size());
    orderChange.reserve(batch.size());
    for (int i = 0; i < batch.size(); ++i) {
        const StoreTransition &t = batch[i];
        auto index = execIndex.constFind(t.executionId);
        if (index == execIndex.constEnd()) {
            index = execIndex.insert(t.executionId, int(finalExec.size()));
            finalExec.append(&t);
        }
        execOf[i] = index.value();
        finalExec[index.value()] = &t;
        if (changesOrder(t)) {
            const StoreTransition *&change = orderChange[t.event.orderId];
            if (!change)
                changedOrders.append(t.event.orderId);
            change = &t;
        }
    }
    QSet<QUuid> ordersInsertedFinal;
    QVector<bool> executionsInsertedFinal(finalExec.size(), false);

    qint64 nextNumber = firstOrderNumber.value_or(1);
    for (int i = 0; i < batch.size(); ++i) {
        const StoreTransition &t = batch[i];
        OrderEvent &e = events[i];
        if (!t.newOrder && e.type != EventType::SagaStarted)
            continue; // the rest of the transitions only change rows (below)
        const QString orderId = idText(e.orderId);
        const qint64 at = toMs(e.timestamp);
        if (t.newOrder) {
            const OrderRequest &o = *t.newOrder;
            const QString day = QDateTime::fromMSecsSinceEpoch(at, Qt::UTC).toString(QStringLiteral("yyyyMMdd"));
            Order row;
            row.id = orderId;
            row.day = day;
            if (firstOrderNumber) {
                row.number = orderNumber(day, nextNumber++);
                e.details.insert(QStringLiteral("orderNumber"), row.number);
            }
            plan.events[i].createsOrder = true;
            row.customerId = idText(o.customerId);
            row.status = QStringLiteral("PENDING");
            row.overallStatus = QStringLiteral("QUEUED");
            const StoreTransition *change = orderChange.value(e.orderId);
            if (change && !isTerminalOverall(change->overall)) {
                row.status = recordText(change->overall);
                row.overallStatus = overallText(change->overall);
                ordersInsertedFinal.insert(e.orderId);
            }
            row.paymentMethodId = o.paymentMethodId;
            row.street = o.shippingAddress.street;
            row.city = o.shippingAddress.city;
            row.state = o.shippingAddress.state;
            row.postalCode = o.shippingAddress.postalCode;
            row.country = o.shippingAddress.country;
            row.traceId = o.traceId.isEmpty() ? QString() : o.traceId;
            row.totalInCents = o.totalInCents();
            row.createdAt = at;
            plan.orders.append(row);
            for (int line = 0; line < o.items.size(); ++line) {
                const OrderItem &it = o.items[line];
                plan.items.append(Item{orderId, line + 1, it.productId, it.productName, it.quantity, it.unitPriceInCents});
            }
            ++plan.newOrders;
        }
        if (e.type == EventType::SagaStarted) {
            Execution row;
            row.executionId = t.executionId;
            row.orderId = orderId;
            row.attempt = t.attemptNumber;
            row.status = QStringLiteral("QUEUED");
            const StoreTransition &last = *finalExec[execOf[i]];
            if (!isTerminalOverall(last.overall)) {
                row.status = overallText(last.overall);
                if (last.currentStep)
                    row.currentStep = stepDisplayName(*last.currentStep);
                executionsInsertedFinal[execOf[i]] = true;
            }
            row.startedAt = at;
            row.leaseExpiresAt = leaseExpiresAt;
            plan.executions.append(row);
            if (t.retry) {
                if (t.retry->paymentMethodId || t.retry->shippingAddress)
                    plan.corrections.append(Correction{orderId, t.retry->paymentMethodId, t.retry->shippingAddress});
                plan.retries.append(Retry{orderId, t.attemptNumber, t.executionId, at, t.resumedFromStep});
            }
        }
    }

    // Executions: the final state of those not inserted in it.
    for (int x = 0; x < finalExec.size(); ++x) {
        if (executionsInsertedFinal[x])
            continue;
        const StoreTransition *t = finalExec[x];
        ExecutionUpdate u;
        u.executionId = executionIdUtf8(*t);
        u.status = overallUtf8(t->overall);
        if (t->currentStep)
            u.currentStep = stepNameUtf8(*t->currentStep);
        u.terminal = isTerminalOverall(t->overall);
        u.completedAt = u.terminal ? toMs(t->event.timestamp) : 0;
        plan.executionUpdates.append(u);
    }

    // Step results, merged per (execution, step).
    QVector<qsizetype> stepRow(finalExec.size() * kStepCount, -1);
    for (int i = 0; i < batch.size(); ++i) {
        const StoreTransition &t = batch[i];
        if (!t.event.step || !t.stepStatus)
            continue;
        const qint64 at = toMs(t.event.timestamp);
        qsizetype &index = stepRow[execOf[i] * kStepCount + int(*t.event.step)];
        if (index < 0) {
            index = plan.stepResults.size();
            StepResult fresh;
            fresh.executionId = executionIdUtf8(t);
            fresh.stepName = stepNameUtf8(*t.event.step);
            plan.stepResults.append(std::move(fresh));
        }
        StepResult &row = plan.stepResults[index];
        row.status = stepStatusUtf8(*t.stepStatus);
        const bool forwardEnd = *t.stepStatus == StepStatus::Completed
            || (*t.stepStatus == StepStatus::Failed && t.event.type == EventType::StepFailed
                && t.event.details.value(QStringLiteral("phase")).toString() != QLatin1String("COMPENSATION"));
        if (*t.stepStatus == StepStatus::InProgress)
            row.startedAt = at;
        if (forwardEnd) {
            row.completedAt = at;
            // A step taken over after an interruption: its row's start is the resumed
            // attempt's (the wait for the lease is no work), so completed_at -
            // started_at is the duration the fold gives (StepProgress::durationMs);
            // its STEP_STARTED event keeps when it first started.
            if (const QDateTime resumed = resumedAttemptStart(t.event); resumed.isValid())
                row.startedAt = toMs(resumed);
        }
        if (!t.event.error.isNull()) {
            row.errorCode = t.event.error.code;
            row.errorMessage = t.event.error.message;
        }
        if (!t.stepResult.isEmpty()) {
            if (!t.encoded.stepResult.isNull()) {
                row.result = t.encoded.stepResult;
            } else {
                row.result.clear();
                appendJson(row.result, t.stepResult);
            }
        }
    }

    // Order rows whose status changed (those not inserted in their final status).
    for (const QUuid &id : changedOrders) {
        if (ordersInsertedFinal.contains(id))
            continue;
        const StoreTransition *t = orderChange.value(id);
        OrderUpdate u;
        u.id = idText(id);
        u.status = recordText(t->overall);
        u.overallStatus = overallText(t->overall);
        u.completed = t->event.type == EventType::SagaCompleted;
        if (u.completed) {
            const QJsonObject &det = t->event.details;
            u.confirmationNumber = det.value(QStringLiteral("confirmationNumber")).toString();
            u.totalChargedInCents = det.value(QStringLiteral("totalChargedInCents")).toInteger();
            u.estimatedDelivery = det.value(QStringLiteral("estimatedDelivery")).toString();
        }
        plan.orderUpdates.append(u);
    }

    // Retry attempts that ended.
    for (const StoreTransition &t : batch) {
        if (t.attemptNumber > 1 && isTerminalOverall(t.overall)
            && (t.event.type == EventType::SagaCompleted || t.event.type == EventType::SagaFailed))
            plan.retryOutcomes.append(RetryOutcome{idText(t.event.orderId), t.attemptNumber, outcomeFor(t.overall)});
    }

    for (int i = 0; i < events.size(); ++i) {
        const StoreTransition &t = batch[i];
        Event &e = plan.events[i];
        e.orderId = orderIdUtf8(t);
        // A new order's SAGA_STARTED carries its number, added above.
        e.details = t.encoded.details.isNull() || e.createsOrder ? eventDetailsJson(events[i]) : t.encoded.details;
    }
    return plan;
}

const char *const BatchPlan::pgRowTypeNames[PgArrayCount] = {
    "saga_order_row",   "saga_item_row",          "saga_execution_row",    "saga_retry_row",
    "saga_correction_row", "saga_execution_update_row", "saga_step_result_row", "saga_order_update_row",
    "saga_retry_outcome_row", "saga_event_row"};

// Each row writes its type's fields in the order 005_binary_rows.sql declares them.
std::array<QByteArray, BatchPlan::PgArrayCount> BatchPlan::toPgBinary(const QVector<OrderEvent> &events,
                                                                     const PgRowTypes &rowTypes) const
{
    using PgBinary::RecordArray;
    std::array<QByteArray, PgArrayCount> out;

    RecordArray w(rowTypes[Orders], 14);
    for (const Order &o : orders) {
        w.row().text(o.id).text(o.day).text(o.customerId).text(o.status).text(o.overallStatus);
        w.text(o.paymentMethodId).text(o.street).text(o.city).text(o.state).text(o.postalCode).text(o.country);
        w.int8(o.totalInCents).text(o.traceId).int8(o.createdAt);
    }
    out[Orders] = w.finish();

    w = RecordArray(rowTypes[Items], 6);
    for (const Item &i : items) {
        w.row().text(i.orderId).int8(i.lineNo).text(i.productId).text(i.productName).int8(i.quantity);
        w.int8(i.unitPriceInCents);
    }
    out[Items] = w.finish();

    w = RecordArray(rowTypes[Executions], 7);
    for (const Execution &e : executions) {
        w.row().text(e.executionId).text(e.orderId).int8(e.attempt).text(e.status).text(e.currentStep);
        w.int8(e.startedAt).int8(e.leaseExpiresAt);
    }
    out[Executions] = w.finish();

    w = RecordArray(rowTypes[Retries], 5);
    for (const Retry &r : retries)
        w.row().text(r.orderId).int8(r.attempt).text(r.executionId).int8(r.initiatedAt).text(r.resumedFromStep);
    out[Retries] = w.finish();

    w = RecordArray(rowTypes[Corrections], 7);
    for (const Correction &c : corrections) {
        const ShippingAddress a = c.address.value_or(ShippingAddress());
        const bool has = c.address.has_value();
        w.row().text(c.orderId).text(c.paymentMethodId.value_or(QString()));
        w.text(has ? a.street : QString()).text(has ? a.city : QString()).text(has ? a.state : QString());
        w.text(has ? a.postalCode : QString()).text(has ? a.country : QString());
    }
    out[Corrections] = w.finish();

    w = RecordArray(rowTypes[ExecutionUpdates], 5);
    for (const ExecutionUpdate &u : executionUpdates) {
        w.row().utf8Text(u.executionId).utf8Text(u.status).utf8Text(u.currentStep).boolean(u.terminal);
        w.int8(u.terminal ? std::optional<qint64>(u.completedAt) : std::nullopt);
    }
    out[ExecutionUpdates] = w.finish();

    w = RecordArray(rowTypes[StepResults], 8);
    for (const StepResult &r : stepResults) {
        w.row().utf8Text(r.executionId).utf8Text(r.stepName).utf8Text(r.status).int8(r.startedAt).int8(r.completedAt);
        w.text(r.errorCode).text(r.errorMessage).utf8Text(r.result);
    }
    out[StepResults] = w.finish();

    w = RecordArray(rowTypes[OrderUpdates], 6);
    for (const OrderUpdate &u : orderUpdates) {
        w.row().text(u.id).text(u.status).text(u.overallStatus).text(u.completed ? u.confirmationNumber : QString());
        w.int8(u.completed ? std::optional<qint64>(u.totalChargedInCents) : std::nullopt);
        w.text(u.completed ? u.estimatedDelivery : QString());
    }
    out[OrderUpdates] = w.finish();

    w = RecordArray(rowTypes[RetryOutcomes], 3);
    for (const RetryOutcome &r : retryOutcomes)
        w.row().text(r.orderId).int8(r.attempt).text(r.outcome);
    out[RetryOutcomes] = w.finish();

    w = RecordArray(rowTypes[Events], 7);
    for (int i = 0; i < events.size(); ++i) {
        const OrderEvent &e = events[i];
        w.row().utf8Text(this->events[i].orderId).int8(e.seq).utf8Text(eventTypeUtf8(e.type));
        w.utf8Text(e.step ? stepNameUtf8(*e.step) : QByteArray()).json(this->events[i].details);
        w.int8(toMs(e.timestamp)).boolean(this->events[i].createsOrder);
    }
    out[Events] = w.finish();
    return out;
}
