#include "sagajson.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <algorithm>
#include <cmath>

// Every parser walks the JSON with the small helpers below. Each helper returns
// false after recording the first problem (field path + message) so the parsers
// read as a list of requirements and can never touch a missing value.

namespace {

constexpr qint64 kMaxSafeInteger = 9007199254740991LL; // 2^53 - 1: exact in a JSON double
constexpr int kMaxStringLength = 256;
constexpr int kMaxItems = 100;

QString s(const char *text)
{
    return QString::fromLatin1(text);
}

QJsonValue nullable(const QString &text)
{
    return text.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(text);
}

QJsonValue timeOrNull(const QDateTime &t)
{
    return t.isValid() ? QJsonValue(SagaJson::formatTimestamp(t)) : QJsonValue(QJsonValue::Null);
}

QJsonValue stepOrNull(const std::optional<SagaStep> &step)
{
    return step ? QJsonValue(stepDisplayName(*step)) : QJsonValue(QJsonValue::Null);
}

QString uuidText(const QUuid &id)
{
    return id.toString(QUuid::WithoutBraces);
}

struct Reader {
    QString field;
    QString error;

    bool fail(const QString &path, const QString &message)
    {
        if (field.isEmpty() && error.isEmpty()) {
            field = path;
            error = message;
        }
        return false;
    }

    template<typename T>
    Parsed<T> failure() const
    {
        return Parsed<T>::fail(field, error);
    }

    static QString join(const QString &prefix, const char *key)
    {
        return prefix.isEmpty() ? s(key) : prefix + QLatin1Char('.') + s(key);
    }

    bool object(const QJsonValue &v, const QString &path, QJsonObject *out)
    {
        if (!v.isObject())
            return fail(path, v.isUndefined() ? s("is required") : s("must be an object"));
        *out = v.toObject();
        return true;
    }

    bool array(const QJsonValue &v, const QString &path, QJsonArray *out)
    {
        if (!v.isArray())
            return fail(path, v.isUndefined() ? s("is required") : s("must be an array"));
        *out = v.toArray();
        return true;
    }

    // Required string (optionally non-empty), bounded length.
    bool string(const QJsonObject &o, const QString &prefix, const char *key, QString *out,
                bool nonEmpty = false, int maxLength = kMaxStringLength)
    {
        const QString path = join(prefix, key);
        const QJsonValue v = o.value(QLatin1String(key));
        if (!v.isString())
            return fail(path, v.isUndefined() ? s("is required") : s("must be a string"));
        const QString text = v.toString();
        if (nonEmpty && text.trimmed().isEmpty())
            return fail(path, s("must not be empty"));
        if (text.size() > maxLength)
            return fail(path, QStringLiteral("must be at most %1 characters").arg(maxLength));
        if (const char *problem = SagaJson::textProblem(text))
            return fail(path, s(problem));
        *out = text;
        return true;
    }

    // Optional string: absent or null gives an empty string.
    bool optString(const QJsonObject &o, const QString &prefix, const char *key, QString *out,
                   int maxLength = kMaxStringLength)
    {
        const QJsonValue v = o.value(QLatin1String(key));
        if (v.isUndefined() || v.isNull()) {
            *out = QString();
            return true;
        }
        return string(o, prefix, key, out, false, maxLength);
    }

    bool integer(const QJsonValue &v, const QString &path, qint64 min, qint64 max, qint64 *out)
    {
        if (!v.isDouble())
            return fail(path, v.isUndefined() ? s("is required") : s("must be an integer"));
        const double d = v.toDouble();
        if (!std::isfinite(d) || std::floor(d) != d)
            return fail(path, s("must be an integer"));
        if (d < double(min) || d > double(max))
            return fail(path, QStringLiteral("must be between %1 and %2").arg(min).arg(max));
        *out = qint64(d);
        return true;
    }

    bool integer(const QJsonObject &o, const QString &prefix, const char *key, qint64 min,
                 qint64 max, qint64 *out)
    {
        return integer(o.value(QLatin1String(key)), join(prefix, key), min, max, out);
    }

    bool boolean(const QJsonObject &o, const QString &prefix, const char *key, bool *out)
    {
        const QJsonValue v = o.value(QLatin1String(key));
        if (!v.isBool())
            return fail(join(prefix, key), v.isUndefined() ? s("is required") : s("must be true or false"));
        *out = v.toBool();
        return true;
    }

    bool uuid(const QJsonObject &o, const QString &prefix, const char *key, QUuid *out)
    {
        QString text;
        if (!string(o, prefix, key, &text, true, 64))
            return false;
        const QUuid id = QUuid::fromString(text);
        if (id.isNull() || text.size() != 36)
            return fail(join(prefix, key), s("must be a UUID like 550e8400-e29b-41d4-a716-446655440000"));
        *out = id;
        return true;
    }

    // Required timestamp; with `nullable`, null or absent gives a null QDateTime.
    bool timestamp(const QJsonObject &o, const QString &prefix, const char *key, QDateTime *out,
                   bool allowNull)
    {
        const QJsonValue v = o.value(QLatin1String(key));
        if (allowNull && (v.isUndefined() || v.isNull())) {
            *out = QDateTime();
            return true;
        }
        if (!v.isString())
            return fail(join(prefix, key), v.isUndefined() ? s("is required")
                                                           : s("must be an ISO-8601 timestamp string"));
        const auto t = SagaJson::parseTimestamp(v.toString());
        if (!t)
            return fail(join(prefix, key),
                        s("must be an ISO-8601 timestamp with a zone, e.g. 2024-01-10T14:30:00.000Z"));
        *out = *t;
        return true;
    }

    bool step(const QJsonObject &o, const QString &prefix, const char *key,
              std::optional<SagaStep> *out, bool required)
    {
        const QJsonValue v = o.value(QLatin1String(key));
        if (!required && (v.isUndefined() || v.isNull())) {
            out->reset();
            return true;
        }
        if (!v.isString())
            return fail(join(prefix, key), v.isUndefined() ? s("is required") : s("must be a step name"));
        const auto st = stepFromName(v.toString());
        if (!st)
            return fail(join(prefix, key), s("must be one of Inventory Reservation, Payment "
                                             "Processing, Shipping Arrangement"));
        *out = st;
        return true;
    }

    // A request's object holds the fields named and no other: one the API does not
    // know ("street2", a misspelt "postalcode" next to the right one) would be
    // dropped silently, so it is refused, naming it (after the known fields' own
    // problems, which say more).
    bool onlyKnown(const QJsonObject &o, const QString &prefix, std::initializer_list<const char *> keys,
                   const char *what)
    {
        QString problem;
        const QString key = SagaJson::unknownField(o, keys, what, &problem);
        return key.isEmpty() || fail(prefix.isEmpty() ? key : prefix + QLatin1Char('.') + key, problem);
    }

    // `request`: an address sent to be used (an order, a retry's correction), which
    // holds no other fields; records already stored are read as they are.
    bool address(const QJsonValue &v, const QString &path, ShippingAddress *out, bool request)
    {
        QJsonObject o;
        if (!object(v, path, &o))
            return false;
        return string(o, path, "street", &out->street, true)
               && string(o, path, "city", &out->city, true)
               && string(o, path, "state", &out->state, true)
               && string(o, path, "postalCode", &out->postalCode, true, 32)
               && string(o, path, "country", &out->country, true, 64)
               && (!request
                   || onlyKnown(o, path, {"street", "city", "state", "postalCode", "country"}, "a shipping address"));
    }

    // `request`: an order being placed, whose product names are required (the
    // store keeps one per item); records already stored are read as they are.
    bool items(const QJsonObject &o, QVector<OrderItem> *out, bool request)
    {
        QJsonArray a;
        if (!array(o.value(QLatin1String("items")), s("items"), &a))
            return false;
        if (a.isEmpty())
            return fail(s("items"), s("must hold at least one item"));
        if (a.size() > kMaxItems)
            return fail(s("items"), QStringLiteral("must hold at most %1 items").arg(kMaxItems));
        out->clear();
        for (int i = 0; i < a.size(); ++i) {
            const QString path = QStringLiteral("items[%1]").arg(i);
            QJsonObject io;
            if (!object(a.at(i), path, &io))
                return false;
            OrderItem item;
            qint64 quantity = 0;
            if (!string(io, path, "productId", &item.productId, true)
                || !(request ? string(io, path, "productName", &item.productName, true)
                             : optString(io, path, "productName", &item.productName))
                || !integer(io, path, "quantity", 1, 1000, &quantity)
                || !integer(io, path, "unitPriceInCents", 0, 100000000000LL, &item.unitPriceInCents)
                || (request && !onlyKnown(io, path, {"productId", "productName", "quantity", "unitPriceInCents"}, "an item")))
                return false;
            item.quantity = int(quantity);
            out->append(item);
        }
        return true;
    }
};

QJsonObject addressToJson(const ShippingAddress &a)
{
    QJsonObject o;
    o.insert(s("street"), a.street);
    o.insert(s("city"), a.city);
    o.insert(s("state"), a.state);
    o.insert(s("postalCode"), a.postalCode);
    o.insert(s("country"), a.country);
    return o;
}

QJsonArray itemsToJson(const QVector<OrderItem> &items)
{
    QJsonArray a;
    for (const OrderItem &item : items) {
        QJsonObject o;
        o.insert(s("productId"), item.productId);
        o.insert(s("productName"), item.productName);
        o.insert(s("quantity"), item.quantity);
        o.insert(s("unitPriceInCents"), item.unitPriceInCents);
        a.append(o);
    }
    return a;
}

QJsonObject detailsWithError(const OrderEvent &event)
{
    QJsonObject details = event.details;
    if (!event.error.isNull()) {
        QJsonObject error;
        error.insert(s("code"), event.error.code);
        error.insert(s("message"), event.error.message);
        details.insert(s("error"), error);
    }
    return details;
}

bool needsStep(EventType t)
{
    return t == EventType::StepStarted || t == EventType::StepCompleted
           || t == EventType::StepFailed || t == EventType::StepCompensated;
}

} // namespace

namespace SagaJson {

QString unknownField(const QJsonObject &o, std::initializer_list<const char *> keys, const char *what,
                     QString *problem)
{
    for (auto it = o.constBegin(); it != o.constEnd(); ++it) {
        const bool known = std::any_of(keys.begin(), keys.end(),
                                       [&](const char *key) { return it.key() == QLatin1String(key); });
        if (known)
            continue;
        QStringList names;
        for (const char *key : keys)
            names.append(s(key));
        if (problem)
            *problem = QStringLiteral("is not a field of %1 (%2)").arg(s(what), names.join(QStringLiteral(", ")));
        return it.key();
    }
    return {};
}

const char *textProblem(QStringView text)
{
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (c.unicode() == 0)
            return "must not contain NUL characters (\\u0000)";
        if (c.isHighSurrogate() && i + 1 < text.size() && text[i + 1].isLowSurrogate()) {
            ++i;
            continue;
        }
        if (c.isSurrogate())
            return "must be valid Unicode (it holds an unpaired surrogate)";
    }
    return nullptr;
}

QString storableText(const QString &text, qsizetype maxLength)
{
    QString out = text.size() > maxLength ? text.left(maxLength) : text;
    if (!out.isEmpty() && out.back().isHighSurrogate())
        out.chop(1); // the pair was cut in two
    if (!textProblem(out))
        return out;
    for (qsizetype i = 0; i < out.size(); ++i) {
        const QChar c = out[i];
        if (c.isHighSurrogate() && i + 1 < out.size() && out[i + 1].isLowSurrogate())
            ++i;
        else if (c.unicode() == 0 || c.isSurrogate())
            out[i] = QChar::ReplacementCharacter;
    }
    return out;
}

QString formatTimestamp(const QDateTime &utc)
{
    if (!utc.isValid())
        return {};
    return utc.toUTC().toString(Qt::ISODateWithMs);
}

std::optional<QDateTime> parseTimestamp(QStringView text)
{
    // yyyy-MM-ddTHH:mm:ss[.fff...](Z|+HH:MM|-HH:MM); bounded length before parsing.
    if (text.size() < 20 || text.size() > 40)
        return std::nullopt;
    if (text.at(4) != QLatin1Char('-') || text.at(7) != QLatin1Char('-')
        || (text.at(10) != QLatin1Char('T') && text.at(10) != QLatin1Char('t')))
        return std::nullopt;
    const QChar last = text.back();
    bool zoned = last == QLatin1Char('Z') || last == QLatin1Char('z');
    if (!zoned && text.size() >= 25) {
        const QStringView tail = text.right(6);
        zoned = (tail.at(0) == QLatin1Char('+') || tail.at(0) == QLatin1Char('-'))
                && tail.at(1).isDigit() && tail.at(2).isDigit() && tail.at(3) == QLatin1Char(':')
                && tail.at(4).isDigit() && tail.at(5).isDigit();
    }
    if (!zoned)
        return std::nullopt;
    QString normalized = text.toString();
    if (last == QLatin1Char('z'))
        normalized.back() = QLatin1Char('Z');
    normalized[10] = QLatin1Char('T');
    const QDateTime t = QDateTime::fromString(normalized, Qt::ISODateWithMs);
    if (!t.isValid())
        return std::nullopt;
    return t.toUTC();
}

QJsonObject statusToJson(const OrderProgress &progress, const QString &traceId)
{
    QJsonObject o;
    o.insert(s("orderId"), uuidText(progress.orderId));
    o.insert(s("overallStatus"), toString(progress.overallStatus));
    o.insert(s("currentStep"), stepOrNull(progress.currentStep));
    o.insert(s("lastUpdated"), timeOrNull(progress.lastUpdated));
    o.insert(s("estimatedCompletion"), timeOrNull(progress.estimatedCompletion));
    QJsonArray steps;
    for (const StepProgress &sp : progress.steps) {
        QJsonObject so;
        so.insert(s("name"), sp.name());
        so.insert(s("order"), sp.order());
        so.insert(s("status"), toString(sp.status));
        if (sp.startedAt.isValid())
            so.insert(s("startedAt"), formatTimestamp(sp.startedAt));
        if (sp.completedAt.isValid())
            so.insert(s("completedAt"), formatTimestamp(sp.completedAt));
        if (!sp.errorMessage.isEmpty())
            so.insert(s("errorMessage"), sp.errorMessage);
        steps.append(so);
    }
    o.insert(s("steps"), steps);
    const QString trace = traceId.isEmpty() ? progress.traceId : traceId;
    if (!trace.isEmpty())
        o.insert(s("traceId"), trace);
    return o;
}

QByteArray statusToBytes(const OrderProgress &progress, const QString &traceId)
{
    return QJsonDocument(statusToJson(progress, traceId)).toJson(QJsonDocument::Compact);
}

Parsed<OrderProgress> statusFromJson(const QJsonObject &json)
{
    Reader r;
    OrderProgress p;
    QString overall;
    if (!r.uuid(json, {}, "orderId", &p.orderId) || !r.string(json, {}, "overallStatus", &overall))
        return r.failure<OrderProgress>();
    const auto status = overallStatusFromString(overall);
    if (!status)
        return Parsed<OrderProgress>::fail(s("overallStatus"), s("is not a known overall status"));
    p.overallStatus = *status;
    QJsonArray steps;
    if (!r.step(json, {}, "currentStep", &p.currentStep, false)
        || !r.timestamp(json, {}, "lastUpdated", &p.lastUpdated, true)
        || !r.timestamp(json, {}, "estimatedCompletion", &p.estimatedCompletion, true)
        || !r.optString(json, {}, "traceId", &p.traceId, 64)
        || !r.array(json.value(QLatin1String("steps")), s("steps"), &steps))
        return r.failure<OrderProgress>();
    if (steps.size() != kStepCount)
        return Parsed<OrderProgress>::fail(s("steps"), s("must hold exactly 3 steps"));
    std::array<bool, kStepCount> seen{};
    for (int i = 0; i < steps.size(); ++i) {
        const QString path = QStringLiteral("steps[%1]").arg(i);
        QJsonObject so;
        std::optional<SagaStep> step;
        qint64 order = 0;
        QString statusText;
        if (!r.object(steps.at(i), path, &so) || !r.step(so, path, "name", &step, true)
            || !r.integer(so, path, "order", 1, kStepCount, &order)
            || !r.string(so, path, "status", &statusText))
            return r.failure<OrderProgress>();
        if (order != stepOrder(*step))
            return Parsed<OrderProgress>::fail(path + s(".order"),
                                               QStringLiteral("must be %1 for %2")
                                                   .arg(stepOrder(*step))
                                                   .arg(stepDisplayName(*step)));
        if (seen[size_t(*step)])
            return Parsed<OrderProgress>::fail(path + s(".name"), s("appears twice"));
        seen[size_t(*step)] = true;
        const auto st = stepStatusFromString(statusText);
        if (!st)
            return Parsed<OrderProgress>::fail(path + s(".status"), s("is not a known step status"));
        StepProgress &sp = p.steps[size_t(*step)];
        sp.status = *st;
        if (!r.timestamp(so, path, "startedAt", &sp.startedAt, true)
            || !r.timestamp(so, path, "completedAt", &sp.completedAt, true)
            || !r.optString(so, path, "errorMessage", &sp.errorMessage, 4096))
            return r.failure<OrderProgress>();
    }
    return Parsed<OrderProgress>{std::move(p), {}, {}};
}

QJsonObject orderListItemToJson(const OrderProgress &progress)
{
    QJsonObject item = statusToJson(progress);
    item.insert(s("orderNumber"), progress.orderNumber);
    item.insert(s("customerId"), progress.customerId.isNull() ? QJsonValue() : QJsonValue(uuidText(progress.customerId)));
    item.insert(s("lastSeq"), double(progress.lastSeq));
    if (progress.createdAt.isValid())
        item.insert(s("createdAt"), formatTimestamp(progress.createdAt));
    item.insert(s("attemptNumber"), qMax(1, progress.attemptNumber));
    if (!progress.confirmationNumber.isEmpty())
        item.insert(s("confirmationNumber"), progress.confirmationNumber);
    if (progress.totalChargedInCents >= 0)
        item.insert(s("totalChargedInCents"), double(progress.totalChargedInCents));
    if (!progress.failure.isNull() || progress.compensationIncomplete) {
        QJsonObject failure{{s("code"), progress.failure.code},
                            {s("message"), progress.failure.message},
                            {s("compensationIncomplete"), progress.compensationIncomplete}};
        if (progress.failedStep)
            failure.insert(s("step"), stepDisplayName(*progress.failedStep));
        item.insert(s("failure"), failure);
    }
    QJsonArray steps = item.value(s("steps")).toArray();
    for (int i = 0; i < steps.size(); ++i) {
        const StepProgress &sp = progress.steps[size_t(i)];
        if (sp.errorCode.isEmpty() && !sp.resumedAt.isValid())
            continue;
        QJsonObject so = steps.at(i).toObject();
        if (!sp.errorCode.isEmpty())
            so.insert(s("errorCode"), sp.errorCode);
        if (sp.resumedAt.isValid()) // taken over: its duration counts from here
            so.insert(s("resumedAt"), formatTimestamp(sp.resumedAt));
        steps.replace(i, so);
    }
    item.insert(s("steps"), steps);
    return item;
}

Parsed<OrderProgress> orderListItemFromJson(const QJsonObject &json)
{
    Parsed<OrderProgress> parsed = statusFromJson(json);
    if (!parsed.ok())
        return parsed;
    OrderProgress &p = *parsed.value;
    Reader r;
    QString customer;
    qint64 lastSeq = 0;
    qint64 attempt = 1;
    qint64 charged = -1;
    QJsonObject failure;
    if (!r.optString(json, {}, "orderNumber", &p.orderNumber, 64) || !r.optString(json, {}, "customerId", &customer, 64)
        || (json.contains(s("lastSeq")) && !r.integer(json, {}, "lastSeq", 0, kMaxSafeInteger, &lastSeq))
        || !r.timestamp(json, {}, "createdAt", &p.createdAt, true)
        || (json.contains(s("attemptNumber")) && !r.integer(json, {}, "attemptNumber", 1, 1000, &attempt))
        || !r.optString(json, {}, "confirmationNumber", &p.confirmationNumber, 64)
        || (json.contains(s("totalChargedInCents"))
            && !r.integer(json, {}, "totalChargedInCents", 0, kMaxSafeInteger, &charged))
        || (json.contains(s("failure")) && !r.object(json.value(s("failure")), s("failure"), &failure)))
        return r.failure<OrderProgress>();
    if (!customer.isEmpty()) {
        p.customerId = QUuid::fromString(customer);
        if (p.customerId.isNull())
            return Parsed<OrderProgress>::fail(s("customerId"), s("must be a UUID"));
    }
    p.lastSeq = lastSeq;
    p.attemptNumber = int(attempt);
    p.totalChargedInCents = charged;
    if (!failure.isEmpty()) {
        const QJsonValue incomplete = failure.value(s("compensationIncomplete"));
        if (!r.optString(failure, s("failure"), "code", &p.failure.code, 64)
            || !r.optString(failure, s("failure"), "message", &p.failure.message, 4096)
            || !r.step(failure, s("failure"), "step", &p.failedStep, false)
            || (!incomplete.isUndefined() && !r.boolean(failure, s("failure"), "compensationIncomplete",
                                                        &p.compensationIncomplete)))
            return r.failure<OrderProgress>();
    }
    const QJsonArray steps = json.value(s("steps")).toArray(); // checked by statusFromJson
    for (int i = 0; i < steps.size(); ++i) {
        const QJsonObject so = steps.at(i).toObject();
        const std::optional<SagaStep> step = stepFromName(so.value(s("name")).toString());
        if (!step)
            continue;
        const QString path = QStringLiteral("steps[%1]").arg(i);
        StepProgress &sp = p.steps[size_t(*step)];
        if (!r.optString(so, path, "errorCode", &sp.errorCode, 64)
            || !r.timestamp(so, path, "resumedAt", &sp.resumedAt, true))
            return r.failure<OrderProgress>();
    }
    return parsed;
}

QString newStatusOf(const OrderEvent &event, const OrderProgress &after)
{
    if (event.step && event.type != EventType::SagaStarted && event.type != EventType::SagaCompleted
        && event.type != EventType::SagaFailed)
        return toString(after.step(*event.step).status);
    return toString(after.overallStatus);
}

QJsonObject statusEventToJson(const OrderEvent &event, const QString &newStatus)
{
    QJsonObject o;
    o.insert(s("orderId"), uuidText(event.orderId));
    o.insert(s("eventType"), eventTypeName(event));
    o.insert(s("stepName"), stepOrNull(event.step));
    o.insert(s("newStatus"), newStatus);
    o.insert(s("timestamp"), formatTimestamp(event.timestamp));
    o.insert(s("details"), detailsWithError(event));
    o.insert(s("seq"), event.seq);
    if (event.position > 0)
        o.insert(s("position"), event.position);
    return o;
}

Parsed<OrderEvent> statusEventFromJson(const QJsonObject &json)
{
    Reader r;
    OrderEvent e;
    QString typeText;
    QString newStatus;
    if (!r.uuid(json, {}, "orderId", &e.orderId) || !r.string(json, {}, "eventType", &typeText))
        return r.failure<OrderEvent>();
    const auto type = eventTypeFromString(typeText);
    if (!type)
        return Parsed<OrderEvent>::fail(s("eventType"), s("is not a known event type"));
    e.type = *type;
    if (!r.step(json, {}, "stepName", &e.step, needsStep(e.type))
        || !r.string(json, {}, "newStatus", &newStatus)
        || !r.timestamp(json, {}, "timestamp", &e.timestamp, false)
        || !r.integer(json, {}, "seq", 1, kMaxSafeInteger, &e.seq))
        return r.failure<OrderEvent>();
    if (!stepStatusFromString(newStatus) && !overallStatusFromString(newStatus))
        return Parsed<OrderEvent>::fail(s("newStatus"), s("is not a known status"));
    const QJsonValue position = json.value(QLatin1String("position"));
    if (!position.isUndefined() && !position.isNull()
        && !r.integer(position, s("position"), 0, kMaxSafeInteger, &e.position))
        return r.failure<OrderEvent>();
    const QJsonValue details = json.value(QLatin1String("details"));
    if (!details.isUndefined() && !details.isNull()) {
        if (!r.object(details, s("details"), &e.details))
            return r.failure<OrderEvent>();
        const QJsonValue error = e.details.value(QLatin1String("error"));
        if (!error.isUndefined()) {
            QJsonObject eo;
            if (!r.object(error, s("details.error"), &eo)
                || !r.optString(eo, s("details.error"), "code", &e.error.code, 64)
                || !r.optString(eo, s("details.error"), "message", &e.error.message, 4096))
                return r.failure<OrderEvent>();
            e.details.remove(s("error"));
        }
        const QJsonValue attempt = e.details.value(QLatin1String("attemptNumber"));
        qint64 ignored = 0;
        if (!attempt.isUndefined() && !r.integer(attempt, s("details.attemptNumber"), 1, 1000000, &ignored))
            return r.failure<OrderEvent>();
        const QJsonValue phase = e.details.value(QLatin1String("phase"));
        if (!phase.isUndefined() && phase.toString() != QLatin1String("FORWARD")
            && phase.toString() != QLatin1String("COMPENSATION"))
            return Parsed<OrderEvent>::fail(s("details.phase"), s("must be FORWARD or COMPENSATION"));
    }
    return Parsed<OrderEvent>{std::move(e), {}, {}};
}

QJsonObject rawEventToJson(const OrderEvent &event)
{
    QJsonObject o;
    o.insert(s("id"), event.seq);
    o.insert(s("eventType"), eventTypeName(event));
    o.insert(s("timestamp"), formatTimestamp(event.timestamp));
    o.insert(s("stepName"), stepOrNull(event.step));
    o.insert(s("details"), detailsWithError(event));
    return o;
}

bool failedByInjectedFault(const QJsonArray &rawEvents)
{
    for (qsizetype i = rawEvents.size() - 1; i >= 0; --i) {
        const QJsonObject event = rawEvents.at(i).toObject();
        const QString type = event.value(QLatin1String("eventType")).toString();
        if (type == QLatin1String("SAGA_STARTED"))
            return false; // the latest execution did not fail (yet)
        const QJsonObject details = event.value(QLatin1String("details")).toObject();
        if (type == QLatin1String("STEP_FAILED")
            && details.value(QLatin1String("phase")).toString() != QLatin1String("COMPENSATION"))
            return details.value(QLatin1String("injected")).toBool(false);
    }
    return false;
}

QJsonObject historyToJson(const OrderHistory &history)
{
    QJsonObject o;
    o.insert(s("orderId"), uuidText(history.orderId));
    o.insert(s("orderNumber"), history.orderNumber);
    o.insert(s("createdAt"), timeOrNull(history.createdAt));
    o.insert(s("completedAt"), timeOrNull(history.completedAt));
    o.insert(s("finalStatus"), history.finalStatus);
    QJsonArray timeline;
    for (const TimelineEntry &t : history.timeline) {
        QJsonObject to;
        to.insert(s("timestamp"), formatTimestamp(t.timestamp));
        to.insert(s("title"), t.title);
        to.insert(s("description"), t.description);
        to.insert(s("status"), toString(t.status));
        if (t.step)
            to.insert(s("stepName"), stepDisplayName(*t.step));
        if (t.error) {
            QJsonObject eo;
            eo.insert(s("code"), t.error->code);
            eo.insert(s("message"), t.error->message);
            eo.insert(s("suggestedAction"), t.error->suggestedAction);
            to.insert(s("error"), eo);
        }
        timeline.append(to);
    }
    o.insert(s("timeline"), timeline);
    QJsonArray executions;
    for (const ExecutionSummary &x : history.executions) {
        QJsonObject xo;
        xo.insert(s("executionId"), x.executionId);
        xo.insert(s("attemptNumber"), x.attemptNumber);
        xo.insert(s("startedAt"), timeOrNull(x.startedAt));
        xo.insert(s("completedAt"), timeOrNull(x.completedAt));
        xo.insert(s("outcome"), x.outcome);
        xo.insert(s("failedStep"), stepOrNull(x.failedStep));
        xo.insert(s("stepsCompleted"), x.stepsCompleted);
        xo.insert(s("isRetry"), x.isRetry);
        executions.append(xo);
    }
    o.insert(s("executions"), executions);
    o.insert(s("executionCount"), history.executionCount());
    return o;
}

Parsed<OrderHistory> historyFromJson(const QJsonObject &json)
{
    Reader r;
    OrderHistory h;
    QJsonArray timeline;
    QJsonArray executions;
    qint64 count = 0;
    if (!r.uuid(json, {}, "orderId", &h.orderId)
        || !r.optString(json, {}, "orderNumber", &h.orderNumber)
        || !r.timestamp(json, {}, "createdAt", &h.createdAt, true)
        || !r.timestamp(json, {}, "completedAt", &h.completedAt, true)
        || !r.string(json, {}, "finalStatus", &h.finalStatus))
        return r.failure<OrderHistory>();
    if (!h.finalStatus.isEmpty() && !overallStatusFromString(h.finalStatus))
        return Parsed<OrderHistory>::fail(s("finalStatus"), s("is not a known overall status"));
    if (!r.array(json.value(QLatin1String("timeline")), s("timeline"), &timeline)
        || !r.array(json.value(QLatin1String("executions")), s("executions"), &executions)
        || !r.integer(json, {}, "executionCount", 0, 1000000, &count))
        return r.failure<OrderHistory>();
    if (count != executions.size())
        return Parsed<OrderHistory>::fail(s("executionCount"), s("must equal the number of executions"));
    for (int i = 0; i < timeline.size(); ++i) {
        const QString path = QStringLiteral("timeline[%1]").arg(i);
        QJsonObject to;
        TimelineEntry t;
        QString status;
        if (!r.object(timeline.at(i), path, &to) || !r.timestamp(to, path, "timestamp", &t.timestamp, false)
            || !r.string(to, path, "title", &t.title) || !r.string(to, path, "description", &t.description, false, 4096)
            || !r.string(to, path, "status", &status) || !r.step(to, path, "stepName", &t.step, false))
            return r.failure<OrderHistory>();
        const auto ts = timelineStatusFromString(status);
        if (!ts)
            return Parsed<OrderHistory>::fail(path + s(".status"),
                                              s("must be SUCCESS, FAILED, COMPENSATED, SKIPPED or NEUTRAL"));
        t.status = *ts;
        const QJsonValue error = to.value(QLatin1String("error"));
        if (!error.isUndefined() && !error.isNull()) {
            QJsonObject eo;
            TimelineError te;
            const QString ep = path + s(".error");
            if (!r.object(error, ep, &eo) || !r.optString(eo, ep, "code", &te.code, 64)
                || !r.optString(eo, ep, "message", &te.message, 4096)
                || !r.optString(eo, ep, "suggestedAction", &te.suggestedAction, 4096))
                return r.failure<OrderHistory>();
            t.error = te;
        }
        h.timeline.append(t);
    }
    for (int i = 0; i < executions.size(); ++i) {
        const QString path = QStringLiteral("executions[%1]").arg(i);
        QJsonObject xo;
        ExecutionSummary x;
        qint64 attempt = 0;
        qint64 steps = 0;
        if (!r.object(executions.at(i), path, &xo) || !r.string(xo, path, "executionId", &x.executionId)
            || !r.integer(xo, path, "attemptNumber", 1, 1000000, &attempt)
            || !r.timestamp(xo, path, "startedAt", &x.startedAt, false)
            || !r.timestamp(xo, path, "completedAt", &x.completedAt, true)
            || !r.string(xo, path, "outcome", &x.outcome)
            || !r.step(xo, path, "failedStep", &x.failedStep, false)
            || !r.integer(xo, path, "stepsCompleted", 0, kStepCount, &steps)
            || !r.boolean(xo, path, "isRetry", &x.isRetry))
            return r.failure<OrderHistory>();
        if (x.outcome != QLatin1String("SUCCESS") && x.outcome != QLatin1String("FAILED")
            && x.outcome != QLatin1String("COMPENSATED") && x.outcome != QLatin1String("IN_PROGRESS"))
            return Parsed<OrderHistory>::fail(path + s(".outcome"),
                                              s("must be SUCCESS, FAILED, COMPENSATED or IN_PROGRESS"));
        x.attemptNumber = int(attempt);
        x.stepsCompleted = int(steps);
        h.executions.append(x);
    }
    return Parsed<OrderHistory>{std::move(h), {}, {}};
}

Parsed<OrderRequest> orderRequestFromJson(const QJsonObject &json)
{
    Reader r;
    OrderRequest req;
    if (!r.uuid(json, {}, "customerId", &req.customerId) || !r.items(json, &req.items, true)
        || !r.string(json, {}, "paymentMethodId", &req.paymentMethodId, true)
        || !r.address(json.value(QLatin1String("shippingAddress")), s("shippingAddress"),
                      &req.shippingAddress, true)
        || !r.onlyKnown(json, {}, {"customerId", "items", "paymentMethodId", "shippingAddress"}, "an order"))
        return r.failure<OrderRequest>();
    // Each field is capped, their product is not: at most 100 x 1000 x 10^11 cents,
    // which a qint64 holds but a JSON number (a double) no longer carries exactly.
    if (req.totalInCents() > kMaxSafeInteger)
        return Parsed<OrderRequest>::fail(
            s("items"), QStringLiteral("the order's total in cents must be at most %1, the largest integer JSON "
                                       "numbers carry exactly")
                            .arg(kMaxSafeInteger));
    return Parsed<OrderRequest>{std::move(req), {}, {}};
}

QJsonObject orderRequestToJson(const OrderRequest &request)
{
    QJsonObject o;
    o.insert(s("customerId"), uuidText(request.customerId));
    o.insert(s("items"), itemsToJson(request.items));
    o.insert(s("paymentMethodId"), request.paymentMethodId);
    o.insert(s("shippingAddress"), addressToJson(request.shippingAddress));
    return o;
}

Parsed<OrderRequest> checkOrderRequest(const OrderRequest &request)
{
    return orderRequestFromJson(orderRequestToJson(request));
}

Parsed<RetryRequest> retryRequestFromJson(const QJsonObject &json)
{
    Reader r;
    RetryRequest req;
    // Every field is optional: a misspelt one ("paymentMethodID") would retry with
    // the value that failed, using up an attempt, so it is refused instead.
    for (auto it = json.constBegin(); it != json.constEnd(); ++it) {
        if (it.key() != QLatin1String("paymentMethodId") && it.key() != QLatin1String("shippingAddress")) {
            r.fail(it.key(), s("is not a field of a retry (it may correct paymentMethodId and shippingAddress)"));
            return r.failure<RetryRequest>();
        }
    }
    const QJsonValue payment = json.value(QLatin1String("paymentMethodId"));
    if (!payment.isUndefined() && !payment.isNull()) {
        QString id;
        if (!r.string(json, {}, "paymentMethodId", &id, true))
            return r.failure<RetryRequest>();
        req.paymentMethodId = id;
    }
    const QJsonValue address = json.value(QLatin1String("shippingAddress"));
    if (!address.isUndefined() && !address.isNull()) {
        ShippingAddress a;
        if (!r.address(address, s("shippingAddress"), &a, true))
            return r.failure<RetryRequest>();
        req.shippingAddress = a;
    }
    return Parsed<RetryRequest>{std::move(req), {}, {}};
}

QJsonObject retryRequestToJson(const RetryRequest &request)
{
    QJsonObject o;
    if (request.paymentMethodId)
        o.insert(s("paymentMethodId"), *request.paymentMethodId);
    if (request.shippingAddress)
        o.insert(s("shippingAddress"), addressToJson(*request.shippingAddress));
    return o;
}

QJsonObject shippingAddressToJson(const ShippingAddress &address)
{
    return addressToJson(address);
}

Parsed<RetryRequest> checkRetryRequest(const RetryRequest &request)
{
    Parsed<RetryRequest> parsed = retryRequestFromJson(retryRequestToJson(request));
    if (parsed.ok()) {
        parsed.value->orderId = request.orderId; // in the URL, not the body
        parsed.value->traceId = request.traceId;
    }
    return parsed;
}

QJsonObject orderRecordToJson(const OrderRecord &order)
{
    QJsonObject o;
    o.insert(s("orderId"), uuidText(order.id));
    o.insert(s("orderNumber"), order.orderNumber);
    o.insert(s("customerId"), uuidText(order.customerId));
    o.insert(s("status"), toString(order.status));
    o.insert(s("items"), itemsToJson(order.items));
    o.insert(s("paymentMethodId"), order.paymentMethodId);
    o.insert(s("shippingAddress"), addressToJson(order.shippingAddress));
    o.insert(s("totalInCents"), order.totalInCents);
    o.insert(s("confirmationNumber"), nullable(order.confirmationNumber));
    o.insert(s("totalChargedInCents"), order.totalChargedInCents >= 0
                                           ? QJsonValue(order.totalChargedInCents)
                                           : QJsonValue(QJsonValue::Null));
    o.insert(s("estimatedDelivery"), nullable(order.estimatedDelivery));
    if (!order.traceId.isEmpty())
        o.insert(s("traceId"), order.traceId);
    o.insert(s("createdAt"), timeOrNull(order.createdAt));
    o.insert(s("updatedAt"), timeOrNull(order.updatedAt));
    return o;
}

Parsed<OrderRecord> orderRecordFromJson(const QJsonObject &json)
{
    Reader r;
    OrderRecord rec;
    QString status;
    if (!r.uuid(json, {}, "orderId", &rec.id) || !r.optString(json, {}, "orderNumber", &rec.orderNumber)
        || !r.uuid(json, {}, "customerId", &rec.customerId) || !r.string(json, {}, "status", &status))
        return r.failure<OrderRecord>();
    const auto st = orderRecordStatusFromString(status);
    if (!st)
        return Parsed<OrderRecord>::fail(s("status"), s("is not a known order status"));
    rec.status = *st;
    if (!r.items(json, &rec.items, false) || !r.string(json, {}, "paymentMethodId", &rec.paymentMethodId, true)
        || !r.address(json.value(QLatin1String("shippingAddress")), s("shippingAddress"),
                      &rec.shippingAddress, false)
        || !r.integer(json, {}, "totalInCents", 0, kMaxSafeInteger, &rec.totalInCents)
        || !r.optString(json, {}, "confirmationNumber", &rec.confirmationNumber)
        || !r.optString(json, {}, "estimatedDelivery", &rec.estimatedDelivery)
        || !r.optString(json, {}, "traceId", &rec.traceId, 64)
        || !r.timestamp(json, {}, "createdAt", &rec.createdAt, true)
        || !r.timestamp(json, {}, "updatedAt", &rec.updatedAt, true))
        return r.failure<OrderRecord>();
    const QJsonValue charged = json.value(QLatin1String("totalChargedInCents"));
    rec.totalChargedInCents = -1;
    if (!charged.isUndefined() && !charged.isNull()
        && !r.integer(charged, s("totalChargedInCents"), 0, kMaxSafeInteger, &rec.totalChargedInCents))
        return r.failure<OrderRecord>();
    return Parsed<OrderRecord>{std::move(rec), {}, {}};
}

QJsonObject eligibilityToJson(const RetryEligibility &e)
{
    QJsonObject o;
    o.insert(s("eligible"), e.eligible);
    o.insert(s("reason"), nullable(e.reason));
    o.insert(s("requiredActions"), QJsonArray::fromStringList(e.requiredActions));
    o.insert(s("retryCount"), e.retryCount);
    o.insert(s("maxRetries"), e.maxRetries);
    o.insert(s("nextRetryAvailableAt"), timeOrNull(e.nextRetryAvailableAt));
    return o;
}

Parsed<RetryEligibility> eligibilityFromJson(const QJsonObject &json)
{
    Reader r;
    RetryEligibility e;
    QJsonArray actions;
    qint64 count = 0;
    qint64 max = 0;
    if (!r.boolean(json, {}, "eligible", &e.eligible) || !r.optString(json, {}, "reason", &e.reason, 4096)
        || !r.array(json.value(QLatin1String("requiredActions")), s("requiredActions"), &actions)
        || !r.integer(json, {}, "retryCount", 0, 1000000, &count)
        || !r.integer(json, {}, "maxRetries", 0, 1000000, &max)
        || !r.timestamp(json, {}, "nextRetryAvailableAt", &e.nextRetryAvailableAt, true))
        return r.failure<RetryEligibility>();
    for (int i = 0; i < actions.size(); ++i) {
        if (!actions.at(i).isString())
            return Parsed<RetryEligibility>::fail(QStringLiteral("requiredActions[%1]").arg(i),
                                                  s("must be a string"));
        e.requiredActions.append(actions.at(i).toString());
    }
    e.retryCount = int(count);
    e.maxRetries = int(max);
    return Parsed<RetryEligibility>{std::move(e), {}, {}};
}

QJsonObject retryAttemptToJson(const RetryAttempt &a)
{
    QJsonObject o;
    o.insert(s("attemptNumber"), a.attemptNumber);
    o.insert(s("initiatedAt"), timeOrNull(a.initiatedAt));
    o.insert(s("resumedFromStep"), nullable(a.resumedFromStep));
    o.insert(s("outcome"), a.outcome);
    if (!a.executionId.isEmpty())
        o.insert(s("executionId"), a.executionId);
    return o;
}

} // namespace SagaJson
