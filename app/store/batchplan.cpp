#include "batchplan.h"

#include "storetext.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <map>
#include <set>

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

// Writes a JSON array of flat objects as UTF-8, field by field (no QJsonObject
// per row, no UTF-16 detour: the bytes go to the database as they are).
class JsonRows
{
public:
    JsonRows() { m_out.reserve(4096); m_out += '['; }
    void row()
    {
        if (m_rows++ > 0)
            m_out += ',';
        m_out += '{';
        m_fields = 0;
    }
    void endRow() { m_out += '}'; }
    JsonRows &text(const char *key, const QString &value) // null QString -> null
    {
        name(key);
        if (value.isNull()) {
            m_out += "null";
            return *this;
        }
        m_out += '"';
        for (qsizetype i = 0; i < value.size(); ++i) {
            const char16_t c = value.at(i).unicode();
            if (c < 0x80) { // ASCII: ids, statuses, most text
                put(uchar(c));
                continue;
            }
            for (const char b : QStringView(value).mid(i).toUtf8()) // the rest, through the UTF-8 codec
                put(uchar(b));
            break;
        }
        m_out += '"';
        return *this;
    }
    JsonRows &number(const char *key, qint64 value)
    {
        name(key);
        m_out += QByteArray::number(value);
        return *this;
    }
    JsonRows &number(const char *key, const std::optional<qint64> &value)
    {
        if (!value) {
            name(key);
            m_out += "null";
            return *this;
        }
        return number(key, *value);
    }
    JsonRows &boolean(const char *key, bool value)
    {
        name(key);
        m_out += value ? "true" : "false";
        return *this;
    }
    JsonRows &raw(const char *key, const QByteArray &json)
    {
        name(key);
        m_out += json;
        return *this;
    }
    QByteArray finish()
    {
        m_out += ']';
        return std::move(m_out);
    }

private:
    void name(const char *key)
    {
        if (m_fields++ > 0)
            m_out += ',';
        m_out += '"';
        m_out += key;
        m_out += "\":";
    }
    // One byte of a string value, escaped as JSON needs.
    void put(uchar c)
    {
        if (c == '"' || c == '\\') {
            m_out += '\\';
            m_out += char(c);
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            const char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            m_out.append(escaped, sizeof escaped);
        } else {
            m_out += char(c);
        }
    }
    QByteArray m_out;
    int m_rows = 0;
    int m_fields = 0;
};

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
    // that state instead of being inserted and then updated.
    std::map<QString, const StoreTransition *> finalExec;
    for (const StoreTransition &t : batch)
        finalExec[t.executionId] = &t;
    std::map<QString, const StoreTransition *> orderChange;
    for (const StoreTransition &t : batch) {
        if (changesOrder(t))
            orderChange[idText(t.event.orderId)] = &t;
    }
    std::set<QString> ordersInsertedFinal, executionsInsertedFinal;

    qint64 nextNumber = firstOrderNumber.value_or(1);
    for (int i = 0; i < batch.size(); ++i) {
        const StoreTransition &t = batch[i];
        OrderEvent &e = events[i];
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
            const auto change = orderChange.find(orderId);
            if (change != orderChange.end() && !isTerminalOverall(change->second->overall)) {
                row.status = recordText(change->second->overall);
                row.overallStatus = overallText(change->second->overall);
                ordersInsertedFinal.insert(orderId);
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
            const StoreTransition &last = *finalExec[t.executionId];
            if (!isTerminalOverall(last.overall)) {
                row.status = overallText(last.overall);
                if (last.currentStep)
                    row.currentStep = stepDisplayName(*last.currentStep);
                executionsInsertedFinal.insert(t.executionId);
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
    for (const auto &[id, t] : finalExec) {
        if (executionsInsertedFinal.count(id))
            continue;
        ExecutionUpdate u;
        u.executionId = id;
        u.status = overallText(t->overall);
        if (t->currentStep)
            u.currentStep = stepDisplayName(*t->currentStep);
        u.terminal = isTerminalOverall(t->overall);
        u.completedAt = u.terminal ? toMs(t->event.timestamp) : 0;
        plan.executionUpdates.append(u);
    }

    // Step results, merged per (execution, step).
    std::map<std::pair<QString, QString>, StepResult> steps;
    for (const StoreTransition &t : batch) {
        if (!t.event.step || !t.stepStatus)
            continue;
        const qint64 at = toMs(t.event.timestamp);
        StepResult &row = steps[{t.executionId, stepDisplayName(*t.event.step)}];
        row.status = stepStatusText(*t.stepStatus);
        const bool forwardEnd = *t.stepStatus == StepStatus::Completed
            || (*t.stepStatus == StepStatus::Failed && t.event.type == EventType::StepFailed
                && t.event.details.value(QStringLiteral("phase")).toString() != QLatin1String("COMPENSATION"));
        if (*t.stepStatus == StepStatus::InProgress)
            row.startedAt = at;
        if (forwardEnd)
            row.completedAt = at;
        if (!t.event.error.isNull()) {
            row.errorCode = t.event.error.code;
            row.errorMessage = t.event.error.message;
        }
        if (!t.stepResult.isEmpty())
            row.result = QString::fromUtf8(QJsonDocument(t.stepResult).toJson(QJsonDocument::Compact));
    }
    for (auto &[key, row] : steps) {
        row.executionId = key.first;
        row.stepName = key.second;
        plan.stepResults.append(std::move(row));
    }

    // Order rows whose status changed (those not inserted in their final status).
    for (const auto &[id, t] : orderChange) {
        if (ordersInsertedFinal.count(id))
            continue;
        OrderUpdate u;
        u.id = id;
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

    for (int i = 0; i < events.size(); ++i)
        plan.events[i].details = eventDetailsJson(events[i]);
    return plan;
}

BatchPlan::Json BatchPlan::toJson(const QVector<OrderEvent> &events) const
{
    Json out;
    JsonRows w;
    for (const Order &o : orders) {
        w.row();
        w.text("id", o.id).text("order_day", o.day).text("customer_id", o.customerId).text("status", o.status);
        w.text("overall_status", o.overallStatus).text("payment_method_id", o.paymentMethodId);
        w.text("ship_street", o.street).text("ship_city", o.city).text("ship_state", o.state);
        w.text("ship_postal_code", o.postalCode).text("ship_country", o.country);
        w.number("total_in_cents", o.totalInCents).text("trace_id", o.traceId).number("created_at", o.createdAt);
        w.endRow();
    }
    out.orders = w.finish();

    w = JsonRows();
    for (const Item &i : items) {
        w.row();
        w.text("order_id", i.orderId).number("line_no", i.lineNo).text("product_id", i.productId);
        w.text("product_name", i.productName).number("quantity", i.quantity);
        w.number("unit_price_in_cents", i.unitPriceInCents);
        w.endRow();
    }
    out.items = w.finish();

    w = JsonRows();
    for (const Execution &e : executions) {
        w.row();
        w.text("execution_id", e.executionId).text("order_id", e.orderId).number("attempt", e.attempt);
        w.text("status", e.status).text("current_step", e.currentStep).number("started_at", e.startedAt);
        w.number("lease_expires_at", e.leaseExpiresAt);
        w.endRow();
    }
    out.executions = w.finish();

    w = JsonRows();
    for (const Retry &r : retries) {
        w.row();
        w.text("order_id", r.orderId).number("attempt_number", r.attempt).text("execution_id", r.executionId);
        w.number("initiated_at", r.initiatedAt).text("resumed_from_step", r.resumedFromStep);
        w.endRow();
    }
    out.retries = w.finish();

    w = JsonRows();
    for (const Correction &c : corrections) {
        w.row();
        w.text("id", c.orderId).text("payment_method_id", c.paymentMethodId.value_or(QString()));
        const bool a = c.address.has_value();
        w.text("ship_street", a ? c.address->street : QString()).text("ship_city", a ? c.address->city : QString());
        w.text("ship_state", a ? c.address->state : QString());
        w.text("ship_postal_code", a ? c.address->postalCode : QString());
        w.text("ship_country", a ? c.address->country : QString());
        w.endRow();
    }
    out.corrections = w.finish();

    w = JsonRows();
    for (const ExecutionUpdate &u : executionUpdates) {
        w.row();
        w.text("execution_id", u.executionId).text("status", u.status).text("current_step", u.currentStep);
        w.boolean("terminal", u.terminal).number("completed_at", u.terminal ? std::optional<qint64>(u.completedAt) : std::nullopt);
        w.endRow();
    }
    out.executionUpdates = w.finish();

    w = JsonRows();
    for (const StepResult &s : stepResults) {
        w.row();
        w.text("execution_id", s.executionId).text("step_name", s.stepName).text("status", s.status);
        w.number("started_at", s.startedAt).number("completed_at", s.completedAt);
        w.text("error_code", s.errorCode).text("error_message", s.errorMessage).text("result", s.result);
        w.endRow();
    }
    out.stepResults = w.finish();

    w = JsonRows();
    for (const OrderUpdate &u : orderUpdates) {
        w.row();
        w.text("id", u.id).text("status", u.status).text("overall_status", u.overallStatus);
        w.text("confirmation_number", u.completed ? u.confirmationNumber : QString());
        w.number("total_charged_in_cents", u.completed ? std::optional<qint64>(u.totalChargedInCents) : std::nullopt);
        w.text("estimated_delivery", u.completed ? u.estimatedDelivery : QString());
        w.endRow();
    }
    out.orderUpdates = w.finish();

    w = JsonRows();
    for (const RetryOutcome &r : retryOutcomes) {
        w.row();
        w.text("order_id", r.orderId).number("attempt_number", r.attempt).text("outcome", r.outcome);
        w.endRow();
    }
    out.retryOutcomes = w.finish();

    w = JsonRows();
    for (int i = 0; i < events.size(); ++i) {
        const OrderEvent &e = events[i];
        const Event &x = this->events[i];
        w.row();
        w.number("ord", i + 1).text("order_id", idText(e.orderId)).number("seq", e.seq);
        w.text("event_type", toString(e.type)).text("step_name", e.step ? stepDisplayName(*e.step) : QString());
        w.raw("details", x.details).number("created_at", toMs(e.timestamp));
        w.boolean("creates_order", x.createsOrder);
        w.endRow();
    }
    out.events = w.finish();
    return out;
}
