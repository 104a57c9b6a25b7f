#include "faultplan.h"
#include "sagajson.h"
#include "sagascenarios.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QtTest>

using namespace SagaScenarios;

namespace {

const QUuid kOrder = QUuid::fromString(QStringLiteral("550e8400-e29b-41d4-a716-446655440000"));

OrderProgress foldPrefix(const QVector<OrderEvent> &events, int count)
{
    if (count > events.size())
        qFatal("test folds %d events of a scenario that has %d", count, int(events.size()));
    OrderProgress p(kOrder);
    for (int i = 0; i < count; ++i)
        p.apply(events[i]);
    return p;
}

QJsonObject parse(const char *json)
{
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(QByteArray(json), &err);
    if (err.error != QJsonParseError::NoError)
        qFatal("bad test JSON: %s", json);
    return doc.object();
}

QStringList sortedKeys(const QJsonObject &o)
{
    QStringList keys = o.keys();
    keys.sort();
    return keys;
}

QJsonObject validOrderRequest()
{
    return parse(R"({"customerId": "11111111-2222-3333-4444-555555555555",
        "items": [{"productId": "sku-1", "productName": "Widget", "quantity": 2, "unitPriceInCents": 1250}],
        "paymentMethodId": "card-visa",
        "shippingAddress": {"street": "1 Main St", "city": "Springfield", "state": "IL",
                            "postalCode": "62701", "country": "US"}})");
}

// Sets `value` at a dotted path such as "items[0].quantity" or "shippingAddress.city";
// a null QJsonValue of type Undefined removes the key.
QJsonObject withValue(QJsonObject root, const QString &path, const QJsonValue &value)
{
    const QStringList parts = path.split(QLatin1Char('.'));
    std::function<QJsonValue(const QJsonValue &, int)> set = [&](const QJsonValue &node, int i) -> QJsonValue {
        QString part = parts[i];
        int index = -1;
        if (part.endsWith(QLatin1Char(']'))) {
            const int open = part.indexOf(QLatin1Char('['));
            index = part.mid(open + 1, part.size() - open - 2).toInt();
            part = part.left(open);
        }
        QJsonObject o = node.toObject();
        const bool last = i == parts.size() - 1;
        if (index >= 0) {
            QJsonArray a = o.value(part).toArray();
            a[index] = last ? value : set(a.at(index), i + 1);
            o.insert(part, a);
        } else if (last) {
            if (value.isUndefined())
                o.remove(part);
            else
                o.insert(part, value);
        } else {
            o.insert(part, set(o.value(part), i + 1));
        }
        return o;
    };
    return set(root, 0).toObject();
}

} // namespace

class tst_SagaJson : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void timestamps_data();
    void timestamps();
    void formatTimestamp();
    void statusExactKeys();
    void statusMatchesSeedShape();
    void statusRoundTrip_data();
    void statusRoundTrip();
    void orderListItemRoundTrip_data();
    void orderListItemRoundTrip();
    void orderListItemFromAnOlderServer();
    void statusMalformed_data();
    void statusMalformed();
    void statusEventRoundTrip_data();
    void statusEventRoundTrip();
    void statusEventKeys();
    void statusEventMalformed_data();
    void statusEventMalformed();
    void rawEvent();
    void failedByInjectedFault();
    void historyRoundTrip();
    void historyKeys();
    void historyMalformed_data();
    void historyMalformed();
    void orderRequestValid();
    void orderRequestInvalid_data();
    void orderRequestInvalid();
    void orderRequestRoundTrip();
    void retryRequest();
    void retryRequestChecked();
    void orderRecordRoundTrip();
    void eligibilityRoundTrip();
    void faultPlanRoundTrip();
    void faultPlanInvalid_data();
    void faultPlanInvalid();
    void faultPlanCodes();
    void garbageNeverCrashes();
    void textStoresCanKeep();
};

void tst_SagaJson::timestamps_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<qint64>("msecs"); // since epoch when valid
    const qint64 base = QDateTime(QDate(2024, 1, 10), QTime(14, 30), Qt::UTC).toMSecsSinceEpoch();
    QTest::newRow("millis Z") << "2024-01-10T14:30:00.000Z" << true << base;
    QTest::newRow("no millis") << "2024-01-10T14:30:00Z" << true << base;
    QTest::newRow("millis") << "2024-01-10T14:30:00.123Z" << true << base + 123;
    QTest::newRow("offset") << "2024-01-10T15:30:00.000+01:00" << true << base;
    QTest::newRow("negative offset") << "2024-01-10T09:30:00-05:00" << true << base;
    QTest::newRow("lower case z") << "2024-01-10T14:30:00.000z" << true << base;
    QTest::newRow("no zone") << "2024-01-10T14:30:00.000" << false << qint64(0);
    QTest::newRow("date only") << "2024-01-10" << false << qint64(0);
    QTest::newRow("month 13") << "2024-13-10T14:30:00.000Z" << false << qint64(0);
    QTest::newRow("Feb 30") << "2024-02-30T14:30:00.000Z" << false << qint64(0);
    QTest::newRow("hour 25") << "2024-01-10T25:30:00.000Z" << false << qint64(0);
    QTest::newRow("space separator") << "2024-01-10 14:30:00.000Z" << false << qint64(0);
    QTest::newRow("empty") << "" << false << qint64(0);
    QTest::newRow("garbage") << "yesterday at noon, roughly" << false << qint64(0);
    QTest::newRow("huge") << QString(10000, QLatin1Char('9')) << false << qint64(0);
}

void tst_SagaJson::timestamps()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(qint64, msecs);
    const auto t = SagaJson::parseTimestamp(text);
    QCOMPARE(t.has_value(), valid);
    if (valid) {
        QCOMPARE(t->toMSecsSinceEpoch(), msecs);
        QCOMPARE(t->timeSpec(), Qt::UTC);
    }
}

void tst_SagaJson::formatTimestamp()
{
    QCOMPARE(SagaJson::formatTimestamp(baseTime()), QStringLiteral("2024-01-10T14:30:00.000Z"));
    QCOMPARE(SagaJson::formatTimestamp(baseTime().addMSecs(7)), QStringLiteral("2024-01-10T14:30:00.007Z"));
    const QDateTime offset = QDateTime(QDate(2024, 1, 10), QTime(16, 30), Qt::OffsetFromUTC, 7200);
    QCOMPARE(SagaJson::formatTimestamp(offset), QStringLiteral("2024-01-10T14:30:00.000Z"));
    QCOMPARE(SagaJson::formatTimestamp(QDateTime()), QString());
}

void tst_SagaJson::statusExactKeys()
{
    const QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder);
    OrderProgress p = foldPrefix(events, events.size());
    const QJsonObject o = SagaJson::statusToJson(p);
    QCOMPARE(sortedKeys(o), (QStringList{"currentStep", "estimatedCompletion", "lastUpdated", "orderId",
                                         "overallStatus", "steps", "traceId"}));
    QCOMPARE(o.value("orderId").toString(), QStringLiteral("550e8400-e29b-41d4-a716-446655440000"));
    QCOMPARE(o.value("overallStatus").toString(), QStringLiteral("ROLLED_BACK"));
    QVERIFY(o.value("currentStep").isNull());
    QVERIFY(o.value("estimatedCompletion").isNull());
    const QJsonArray steps = o.value("steps").toArray();
    QCOMPARE(steps.size(), 3);
    QCOMPARE(sortedKeys(steps[0].toObject()), (QStringList{"completedAt", "name", "order", "startedAt", "status"}));
    QCOMPARE(sortedKeys(steps[1].toObject()),
             (QStringList{"completedAt", "errorMessage", "name", "order", "startedAt", "status"}));
    QCOMPARE(sortedKeys(steps[2].toObject()), (QStringList{"name", "order", "status"}));
    QCOMPARE(steps[1].toObject().value("errorMessage").toString(), QStringLiteral("Payment declined"));
    QCOMPARE(steps[2].toObject().value("status").toString(), QStringLiteral("SKIPPED"));
    // traceId from the argument wins; without one and without progress.traceId there is no key.
    QCOMPARE(SagaJson::statusToJson(p, QStringLiteral("abc")).value("traceId").toString(), QStringLiteral("abc"));
    p.traceId.clear();
    QVERIFY(!SagaJson::statusToJson(p).contains(QLatin1String("traceId")));
}

void tst_SagaJson::statusMatchesSeedShape()
{
    // The seed's in-progress example, byte for byte apart from milliseconds.
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder, baseTime(), 1000);
    OrderProgress p = foldPrefix(events, 4);
    p.traceId.clear();
    p.estimatedCompletion = baseTime().addSecs(60);
    const QByteArray bytes = SagaJson::statusToBytes(p);
    const QJsonObject expected = parse(R"({
      "orderId": "550e8400-e29b-41d4-a716-446655440000",
      "overallStatus": "IN_PROGRESS",
      "currentStep": "Payment Processing",
      "lastUpdated": "2024-01-10T14:30:03.000Z",
      "estimatedCompletion": "2024-01-10T14:31:00.000Z",
      "steps": [
        {"name": "Inventory Reservation", "order": 1, "status": "COMPLETED",
         "startedAt": "2024-01-10T14:30:01.000Z", "completedAt": "2024-01-10T14:30:02.000Z"},
        {"name": "Payment Processing", "order": 2, "status": "IN_PROGRESS",
         "startedAt": "2024-01-10T14:30:03.000Z"},
        {"name": "Shipping Arrangement", "order": 3, "status": "PENDING"}
      ]})");
    QCOMPARE(QJsonDocument::fromJson(bytes).object(), expected);
}

void tst_SagaJson::statusRoundTrip_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<int>("count");
    QTest::newRow("queued") << int(Kind::Success) << 1;
    QTest::newRow("running") << int(Kind::Success) << 4;
    QTest::newRow("completed") << int(Kind::Success) << 8;
    QTest::newRow("rolling back") << int(Kind::ShippingFails) << 9;
    QTest::newRow("compensation failed") << int(Kind::CompensationFails) << 9; // all of it
}

void tst_SagaJson::statusRoundTrip()
{
    QFETCH(int, kind);
    QFETCH(int, count);
    const QVector<OrderEvent> events = scenario(Kind(kind), kOrder);
    OrderProgress p = foldPrefix(events, count);
    if (!p.isTerminal())
        p.estimatedCompletion = baseTime().addSecs(30);
    const QJsonObject json = SagaJson::statusToJson(p);
    const Parsed<OrderProgress> back = SagaJson::statusFromJson(
        QJsonDocument::fromJson(QJsonDocument(json).toJson()).object());
    QVERIFY2(back.ok(), qPrintable(back.field + QLatin1String(": ") + back.error));
    const OrderProgress &q = *back.value;
    QCOMPARE(q.orderId, p.orderId);
    QCOMPARE_STATUS(q.overallStatus, p.overallStatus);
    QCOMPARE(q.currentStep, p.currentStep);
    QCOMPARE(q.lastUpdated, p.lastUpdated);
    QCOMPARE(q.estimatedCompletion, p.estimatedCompletion);
    QCOMPARE(q.traceId, p.traceId);
    for (SagaStep s : kAllSteps) {
        QCOMPARE_STATUS(q.step(s).status, p.step(s).status);
        QCOMPARE(q.step(s).startedAt, p.step(s).startedAt);
        QCOMPARE(q.step(s).completedAt, p.step(s).completedAt);
        QCOMPARE(q.step(s).errorMessage, p.step(s).errorMessage);
    }
    QCOMPARE(SagaJson::statusToJson(q), json); // and back again, identical
}

// GET /api/orders items carry what the console shows of an order it did not see
// happen (failure, attempt, placed at, confirmation): read back, the item is the
// folded progress itself, for every ending and while running.
void tst_SagaJson::orderListItemRoundTrip_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<int>("count"); // events folded; 0 = all
    QTest::addColumn<bool>("takenOver"); // payment resumed after an interruption (details.resumedAt)
    for (int k = 0; k < kKindCount; ++k)
        QTest::newRow(kindName(Kind(k))) << k << 0 << false;
    QTest::newRow("running") << int(Kind::Success) << 4 << false;
    QTest::newRow("retry running") << int(Kind::RetryThenSuccess) << 12 << false;
    QTest::newRow("payment taken over") << int(Kind::Success) << 0 << true;
}

void tst_SagaJson::orderListItemRoundTrip()
{
    QFETCH(int, kind);
    QFETCH(int, count);
    QFETCH(bool, takenOver);
    QVector<OrderEvent> events = scenario(Kind(kind), kOrder);
    if (takenOver) {
        QVERIFY(events[4].type == EventType::StepCompleted);
        events[4].details.insert(QStringLiteral("resumedAt"), SagaJson::formatTimestamp(events[4].timestamp.addMSecs(-30)));
    }
    OrderProgress p = foldPrefix(events, count > 0 ? count : int(events.size()));
    QVERIFY(p.createdAt.isValid());
    QCOMPARE(p.step(SagaStep::Payment).resumedAt.isValid(), takenOver);
    const QJsonObject json = SagaJson::orderListItemToJson(p);
    const Parsed<OrderProgress> back = SagaJson::orderListItemFromJson(
        QJsonDocument::fromJson(QJsonDocument(json).toJson()).object());
    QVERIFY2(back.ok(), qPrintable(back.field + QLatin1String(": ") + back.error));
    const OrderProgress &q = *back.value;
    QCOMPARE(q.failure.code, p.failure.code);
    QCOMPARE(q.failure.message, p.failure.message);
    QCOMPARE(q.failedStep, p.failedStep);
    QCOMPARE(q.attemptNumber, p.attemptNumber);
    QCOMPARE(q.createdAt, p.createdAt);
    QCOMPARE(q.confirmationNumber, p.confirmationNumber);
    QCOMPARE(q.totalChargedInCents, p.totalChargedInCents);
    QCOMPARE(q.compensationIncomplete, p.compensationIncomplete);
    for (SagaStep s : kAllSteps) {
        QCOMPARE(q.step(s).errorCode, p.step(s).errorCode);
        QCOMPARE(q.step(s).resumedAt, p.step(s).resumedAt); // a console's charts measure from it
        QCOMPARE(q.step(s).durationMs(), p.step(s).durationMs());
    }
    QVERIFY(q == p);
    // The status part is the status response's shape, unchanged.
    QJsonObject status = SagaJson::statusToJson(p);
    for (const QJsonValue &step : status.value(QStringLiteral("steps")).toArray())
        QVERIFY(!step.toObject().contains(QStringLiteral("resumedAt")));
    for (auto it = status.begin(); it != status.end(); ++it) {
        if (it.key() != QLatin1String("steps"))
            QCOMPARE(json.value(it.key()), it.value());
    }
}

// What a list item without the extras (an older saga-server) gives: the status,
// attempt 1, no failure; and extras of the wrong type are named.
void tst_SagaJson::orderListItemFromAnOlderServer()
{
    const QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder);
    const OrderProgress p = foldPrefix(events, int(events.size()));
    QJsonObject json = SagaJson::statusToJson(p);
    json.insert(QStringLiteral("orderNumber"), p.orderNumber);
    Parsed<OrderProgress> back = SagaJson::orderListItemFromJson(json);
    QVERIFY2(back.ok(), qPrintable(back.field + QLatin1String(": ") + back.error));
    QCOMPARE(back.value->orderNumber, p.orderNumber);
    QCOMPARE(back.value->attemptNumber, 1);
    QVERIFY(back.value->failure.isNull());
    QCOMPARE(back.value->lastSeq, 0);
    json.insert(QStringLiteral("failure"), QStringLiteral("declined"));
    back = SagaJson::orderListItemFromJson(json);
    QVERIFY(!back.ok());
    QCOMPARE(back.field, QStringLiteral("failure"));
    json.insert(QStringLiteral("failure"), QJsonObject{{QStringLiteral("code"), 42}});
    back = SagaJson::orderListItemFromJson(json);
    QVERIFY(!back.ok());
    QCOMPARE(back.field, QStringLiteral("failure.code"));
}

void tst_SagaJson::statusMalformed_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("field");
    const char *good = R"({"orderId":"550e8400-e29b-41d4-a716-446655440000","overallStatus":"IN_PROGRESS",
        "currentStep":null,"lastUpdated":"2024-01-10T14:30:00.000Z","estimatedCompletion":null,
        "steps":[{"name":"Inventory Reservation","order":1,"status":"PENDING"},)"
                       R"({"name":"Payment Processing","order":2,"status":"PENDING"},)"
                       R"({"name":"Shipping Arrangement","order":3,"status":"PENDING"}]})";
    QTest::newRow("valid") << QByteArray(good) << QString();
    QTest::newRow("empty object") << QByteArray("{}") << "orderId";
    QTest::newRow("orderId number") << QByteArray(good).replace("\"550e8400-e29b-41d4-a716-446655440000\"", "42") << "orderId";
    QTest::newRow("orderId not uuid") << QByteArray(good).replace("550e8400-e29b-41d4-a716-446655440000", "550e8400-XXXX") << "orderId";
    QTest::newRow("orderId braces") << QByteArray(good).replace("\"550e8400-e29b-41d4-a716-446655440000\"", "\"{550e8400-e29b-41d4-a716-446655440000}\"") << "orderId";
    QTest::newRow("unknown overall") << QByteArray(good).replace("\"IN_PROGRESS\"", "\"RUNNING\"") << "overallStatus";
    QTest::newRow("overall array") << QByteArray(good).replace("\"IN_PROGRESS\"", "[]") << "overallStatus";
    QTest::newRow("currentStep unknown") << QByteArray(good).replace("\"currentStep\":null", "\"currentStep\":\"Teleport\"") << "currentStep";
    QTest::newRow("currentStep number") << QByteArray(good).replace("\"currentStep\":null", "\"currentStep\":2") << "currentStep";
    QTest::newRow("lastUpdated no zone") << QByteArray(good).replace("00.000Z\",\"est", "00.000\",\"est") << "lastUpdated";
    QTest::newRow("lastUpdated number") << QByteArray(good).replace("\"2024-01-10T14:30:00.000Z\"", "1704897000") << "lastUpdated";
    QTest::newRow("eta garbage") << QByteArray(good).replace("\"estimatedCompletion\":null", "\"estimatedCompletion\":\"soon\"") << "estimatedCompletion";
    QTest::newRow("steps object") << QByteArray(R"({"orderId":"550e8400-e29b-41d4-a716-446655440000","overallStatus":"QUEUED","steps":{}})") << "steps";
    QTest::newRow("two steps") << QByteArray(good).replace(R"(,{"name":"Shipping Arrangement","order":3,"status":"PENDING"})", "") << "steps";
    QTest::newRow("step not object") << QByteArray(good).replace(R"({"name":"Shipping Arrangement","order":3,"status":"PENDING"})", "7") << "steps[2]";
    QTest::newRow("step order wrong") << QByteArray(good).replace("\"order\":3", "\"order\":1") << "steps[2].order";
    QTest::newRow("step order huge") << QByteArray(good).replace("\"order\":3", "\"order\":1e300") << "steps[2].order";
    QTest::newRow("step order fraction") << QByteArray(good).replace("\"order\":3", "\"order\":2.5") << "steps[2].order";
    QTest::newRow("step duplicated") << QByteArray(good).replace(R"("Shipping Arrangement","order":3)", R"("Payment Processing","order":2)") << "steps[2].name";
    QTest::newRow("step status unknown") << QByteArray(good).replace(R"(3,"status":"PENDING")", R"(3,"status":"WAITING")") << "steps[2].status";
    QTest::newRow("step startedAt bad") << QByteArray(good).replace(R"(3,"status":"PENDING")", R"(3,"status":"PENDING","startedAt":"2024-99-99T00:00:00Z")") << "steps[2].startedAt";
    QTest::newRow("step errorMessage number") << QByteArray(good).replace(R"(3,"status":"PENDING")", R"(3,"status":"PENDING","errorMessage":5)") << "steps[2].errorMessage";
}

void tst_SagaJson::statusMalformed()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, field);
    QJsonParseError err;
    const QJsonObject o = QJsonDocument::fromJson(json, &err).object();
    QCOMPARE(err.error, QJsonParseError::NoError);
    const Parsed<OrderProgress> r = SagaJson::statusFromJson(o);
    QCOMPARE(r.ok(), field.isEmpty());
    QCOMPARE(r.field, field);
    QCOMPARE(r.error.isEmpty(), field.isEmpty());
}

void tst_SagaJson::statusEventRoundTrip_data()
{
    QTest::addColumn<int>("kind");
    for (int k = 0; k < kKindCount; ++k)
        QTest::newRow(kindName(Kind(k))) << k;
}

void tst_SagaJson::statusEventRoundTrip()
{
    QFETCH(int, kind);
    const QVector<OrderEvent> events = scenario(Kind(kind), kOrder);
    OrderProgress p(kOrder);
    qint64 position = 1000;
    for (OrderEvent e : events) {
        e.position = ++position;
        QCOMPARE(p.apply(e).outcome, FoldResult::Applied);
        const QString newStatus = SagaJson::newStatusOf(e, p);
        const QJsonObject json = SagaJson::statusEventToJson(e, newStatus);
        const QJsonObject reparsed = QJsonDocument::fromJson(QJsonDocument(json).toJson()).object();
        const Parsed<OrderEvent> back = SagaJson::statusEventFromJson(reparsed);
        QVERIFY2(back.ok(), qPrintable(back.field + QLatin1String(": ") + back.error));
        QCOMPARE(*back.value, e);
        QCOMPARE(reparsed.value("newStatus").toString(), newStatus);
    }
}

void tst_SagaJson::statusEventKeys()
{
    const QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder);
    OrderProgress p = foldPrefix(events, 5); // payment failed
    const OrderEvent &failed = events[4];
    QCOMPARE_STATUS(failed.type, EventType::StepFailed);
    QCOMPARE(SagaJson::newStatusOf(failed, p), QStringLiteral("FAILED"));
    const QJsonObject o = SagaJson::statusEventToJson(failed, SagaJson::newStatusOf(failed, p));
    QCOMPARE(sortedKeys(o), (QStringList{"details", "eventType", "newStatus", "orderId", "seq", "stepName", "timestamp"}));
    QCOMPARE(o.value("eventType").toString(), QStringLiteral("STEP_FAILED"));
    QCOMPARE(o.value("stepName").toString(), QStringLiteral("Payment Processing"));
    QCOMPARE(o.value("timestamp").toString(), SagaJson::formatTimestamp(failed.timestamp));
    QCOMPARE(o.value("seq").toInteger(), 5);
    const QJsonObject error = o.value("details").toObject().value("error").toObject();
    QCOMPARE(error.value("code").toString(), QStringLiteral("PAYMENT_DECLINED"));
    QCOMPARE(error.value("message").toString(), QStringLiteral("Payment declined"));
    // Saga-level events: null stepName, newStatus is the overall status.
    const OrderProgress started = foldPrefix(events, 1);
    const QJsonObject s = SagaJson::statusEventToJson(events[0], SagaJson::newStatusOf(events[0], started));
    QVERIFY(s.value("stepName").isNull());
    QCOMPARE(s.value("newStatus").toString(), QStringLiteral("QUEUED"));
}

void tst_SagaJson::statusEventMalformed_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("field");
    const QByteArray good = R"({"orderId":"550e8400-e29b-41d4-a716-446655440000","eventType":"STEP_STARTED",
        "stepName":"Payment Processing","newStatus":"IN_PROGRESS","timestamp":"2024-01-10T14:30:00.000Z",
        "details":{"idempotencyKey":"k"},"seq":3,"position":77})";
    QTest::newRow("valid") << good << QString();
    QTest::newRow("missing orderId") << QByteArray(good).replace("\"orderId\"", "\"order\"") << "orderId";
    QTest::newRow("unknown type") << QByteArray(good).replace("STEP_STARTED", "STEP_DANCED") << "eventType";
    QTest::newRow("type number") << QByteArray(good).replace("\"STEP_STARTED\"", "3") << "eventType";
    QTest::newRow("step event without step") << QByteArray(good).replace("\"Payment Processing\"", "null") << "stepName";
    QTest::newRow("unknown step") << QByteArray(good).replace("Payment Processing", "Payment") << "stepName";
    QTest::newRow("unknown newStatus") << QByteArray(good).replace("\"IN_PROGRESS\"", "\"BUSY\"") << "newStatus";
    QTest::newRow("bad timestamp") << QByteArray(good).replace("2024-01-10T14:30:00.000Z", "2024-01-10") << "timestamp";
    QTest::newRow("details array") << QByteArray(good).replace(R"({"idempotencyKey":"k"})", "[1]") << "details";
    QTest::newRow("error not object") << QByteArray(good).replace(R"({"idempotencyKey":"k"})", R"({"error":"boom"})") << "details.error";
    QTest::newRow("error code number") << QByteArray(good).replace(R"({"idempotencyKey":"k"})", R"({"error":{"code":1}})") << "details.error.code";
    QTest::newRow("bad phase") << QByteArray(good).replace(R"({"idempotencyKey":"k"})", R"({"phase":"LATER"})") << "details.phase";
    QTest::newRow("attempt fraction") << QByteArray(good).replace(R"({"idempotencyKey":"k"})", R"({"attemptNumber":1.5})") << "details.attemptNumber";
    QTest::newRow("seq zero") << QByteArray(good).replace("\"seq\":3", "\"seq\":0") << "seq";
    QTest::newRow("seq negative") << QByteArray(good).replace("\"seq\":3", "\"seq\":-3") << "seq";
    QTest::newRow("seq huge") << QByteArray(good).replace("\"seq\":3", "\"seq\":1e19") << "seq";
    QTest::newRow("seq string") << QByteArray(good).replace("\"seq\":3", "\"seq\":\"3\"") << "seq";
    QTest::newRow("seq missing") << QByteArray(good).replace("\"seq\":3,", "") << "seq";
    QTest::newRow("position fraction") << QByteArray(good).replace("\"position\":77", "\"position\":7.7") << "position";
    QTest::newRow("saga event: null step ok") << QByteArray(good).replace("STEP_STARTED", "SAGA_STARTED").replace("\"Payment Processing\"", "null") << QString();
}

void tst_SagaJson::statusEventMalformed()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, field);
    QJsonParseError err;
    const QJsonObject o = QJsonDocument::fromJson(json, &err).object();
    QCOMPARE(err.error, QJsonParseError::NoError);
    const Parsed<OrderEvent> r = SagaJson::statusEventFromJson(o);
    QVERIFY2(r.ok() == field.isEmpty(), qPrintable(r.field + QLatin1String(": ") + r.error));
    QCOMPARE(r.field, field);
}

void tst_SagaJson::rawEvent()
{
    const QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder);
    const QJsonObject o = SagaJson::rawEventToJson(events[4]);
    QCOMPARE(sortedKeys(o), (QStringList{"details", "eventType", "id", "stepName", "timestamp"}));
    QCOMPARE(o.value("id").toInteger(), 5);
    QCOMPARE(o.value("details").toObject().value("phase").toString(), QStringLiteral("FORWARD"));
    QCOMPARE(o.value("details").toObject().value("error").toObject().value("code").toString(),
             QStringLiteral("PAYMENT_DECLINED"));
}

// Whether the latest execution failed on an injected fault (the console's Retry
// then needs no correction): its forward STEP_FAILED, not a compensation's, and
// not an earlier execution's.
void tst_SagaJson::failedByInjectedFault()
{
    auto json = [](const QVector<OrderEvent> &events) {
        QJsonArray a;
        for (const OrderEvent &e : events)
            a.append(SagaJson::rawEventToJson(e));
        return a;
    };
    const QJsonObject forward{{QStringLiteral("phase"), QStringLiteral("FORWARD")}};
    QJsonObject injected = forward;
    injected.insert(QStringLiteral("injected"), true);
    const ErrorInfo declined{QStringLiteral("PAYMENT_DECLINED"), QStringLiteral("Injected failure (PAYMENT_DECLINED).")};
    auto failedPayment = [&](Builder &b, const QJsonObject &details) {
        b.stepOk(SagaStep::Inventory);
        b.add(EventType::StepStarted, SagaStep::Payment);
        b.add(EventType::StepFailed, SagaStep::Payment, details, declined);
        b.add(EventType::CompensationStarted);
        b.compensate(SagaStep::Inventory);
        b.failed();
    };
    Builder b(kOrder);
    b.started();
    failedPayment(b, injected);
    QVERIFY(SagaJson::failedByInjectedFault(json(b.events())));
    b.started(2); // retried: this execution has not failed
    QVERIFY(!SagaJson::failedByInjectedFault(json(b.events())));
    failedPayment(b, forward); // and then failed by itself
    QVERIFY(!SagaJson::failedByInjectedFault(json(b.events())));

    QVERIFY(!SagaJson::failedByInjectedFault(json(scenario(Kind::PaymentFails, kOrder))));
    // An injected compensation failure is no forward failure: the order's own failure counts.
    Builder c(kOrder);
    c.started();
    c.stepOk(SagaStep::Inventory);
    c.add(EventType::StepStarted, SagaStep::Payment);
    c.add(EventType::StepFailed, SagaStep::Payment, forward, declined);
    c.add(EventType::CompensationStarted);
    c.add(EventType::CompensationStarted, SagaStep::Inventory);
    c.add(EventType::StepFailed, SagaStep::Inventory,
          {{QStringLiteral("phase"), QStringLiteral("COMPENSATION")}, {QStringLiteral("injected"), true}},
          ErrorInfo{QStringLiteral("COMPENSATION_FAILED"), QStringLiteral("The compensation failed (injected).")});
    c.failed(true);
    QVERIFY(!SagaJson::failedByInjectedFault(json(c.events())));
    QVERIFY(!SagaJson::failedByInjectedFault(QJsonArray{}));
}

void tst_SagaJson::historyRoundTrip()
{
    for (int k = 0; k < kKindCount; ++k) {
        const OrderHistory h = HistoryBuilder::build(scenario(Kind(k), kOrder));
        const QJsonObject json = SagaJson::historyToJson(h);
        const Parsed<OrderHistory> back =
            SagaJson::historyFromJson(QJsonDocument::fromJson(QJsonDocument(json).toJson()).object());
        QVERIFY2(back.ok(), qPrintable(back.field + QLatin1String(": ") + back.error));
        QCOMPARE(back.value->orderId, h.orderId);
        QCOMPARE(back.value->orderNumber, h.orderNumber);
        QCOMPARE(back.value->createdAt, h.createdAt);
        QCOMPARE(back.value->completedAt, h.completedAt);
        QCOMPARE(back.value->finalStatus, h.finalStatus);
        QCOMPARE(back.value->timeline, h.timeline);
        QCOMPARE(back.value->executions, h.executions);
    }
}

void tst_SagaJson::historyKeys()
{
    const OrderHistory h = HistoryBuilder::build(scenario(Kind::RetryThenSuccess, kOrder));
    const QJsonObject o = SagaJson::historyToJson(h);
    QCOMPARE(sortedKeys(o), (QStringList{"completedAt", "createdAt", "executionCount", "executions",
                                         "finalStatus", "orderId", "orderNumber", "timeline"}));
    QCOMPARE(o.value("executionCount").toInt(), 2);
    const QJsonArray timeline = o.value("timeline").toArray();
    QCOMPARE(sortedKeys(timeline[0].toObject()), (QStringList{"description", "status", "timestamp", "title"}));
    QCOMPARE(sortedKeys(timeline[2].toObject()),
             (QStringList{"description", "error", "status", "stepName", "timestamp", "title"}));
    QCOMPARE(sortedKeys(timeline[2].toObject().value("error").toObject()),
             (QStringList{"code", "message", "suggestedAction"}));
    const QJsonArray executions = o.value("executions").toArray();
    QCOMPARE(sortedKeys(executions[0].toObject()),
             (QStringList{"attemptNumber", "completedAt", "executionId", "failedStep", "isRetry",
                          "outcome", "startedAt", "stepsCompleted"}));
    QCOMPARE(executions[0].toObject().value("failedStep").toString(), QStringLiteral("Payment Processing"));
    QVERIFY(executions[1].toObject().value("failedStep").isNull());
    QCOMPARE(executions[1].toObject().value("isRetry").toBool(), true);
}

void tst_SagaJson::historyMalformed_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<QJsonValue>("value");
    QTest::newRow("orderId") << "orderId" << QJsonValue(12);
    QTest::newRow("createdAt") << "createdAt" << QJsonValue("nope");
    QTest::newRow("finalStatus") << "finalStatus" << QJsonValue("DONE");
    QTest::newRow("executionCount") << "executionCount" << QJsonValue(7);
    QTest::newRow("timeline[1].status") << "timeline[1].status" << QJsonValue("GOOD");
    QTest::newRow("timeline[1].title") << "timeline[1].title" << QJsonValue(QJsonArray());
    QTest::newRow("timeline[2].error") << "timeline[2].error" << QJsonValue(3);
    QTest::newRow("timeline[1].stepName") << "timeline[1].stepName" << QJsonValue("Billing");
    QTest::newRow("executions[0].outcome") << "executions[0].outcome" << QJsonValue("MAYBE");
    QTest::newRow("executions[0].attemptNumber") << "executions[0].attemptNumber" << QJsonValue(0);
    QTest::newRow("executions[0].isRetry") << "executions[0].isRetry" << QJsonValue("no");
    QTest::newRow("executions[0].stepsCompleted") << "executions[0].stepsCompleted" << QJsonValue(4);
    QTest::newRow("executions") << "executions" << QJsonValue(QJsonObject());
}

void tst_SagaJson::historyMalformed()
{
    QFETCH(QString, path);
    QFETCH(QJsonValue, value);
    const QJsonObject good = SagaJson::historyToJson(HistoryBuilder::build(scenario(Kind::PaymentFails, kOrder)));
    QVERIFY(SagaJson::historyFromJson(good).ok());
    const Parsed<OrderHistory> r = SagaJson::historyFromJson(withValue(good, path, value));
    QVERIFY(!r.ok());
    QCOMPARE(r.field, path);
    QVERIFY(!r.error.isEmpty());
}

void tst_SagaJson::orderRequestValid()
{
    const Parsed<OrderRequest> r = SagaJson::orderRequestFromJson(validOrderRequest());
    QVERIFY2(r.ok(), qPrintable(r.field + QLatin1String(": ") + r.error));
    QCOMPARE(r.value->customerId, QUuid::fromString(QStringLiteral("11111111-2222-3333-4444-555555555555")));
    QCOMPARE(r.value->items.size(), 1);
    QCOMPARE(r.value->items[0].quantity, 2);
    QCOMPARE(r.value->totalInCents(), 2500);
    QCOMPARE(r.value->shippingAddress.postalCode, QStringLiteral("62701"));

    // A total up to 2^53 - 1 is exact in JSON: 90 x 1000 x 100,000,000,000 = 9e15 is taken...
    QJsonArray items;
    for (int i = 0; i < 90; ++i)
        items.append(QJsonObject{{"productId", "sku-1"}, {"productName", "Widget"}, {"quantity", 1000},
                                 {"unitPriceInCents", 100000000000.0}});
    const Parsed<OrderRequest> large = SagaJson::orderRequestFromJson(withValue(validOrderRequest(), "items", items));
    QVERIFY2(large.ok(), qPrintable(large.field + QLatin1String(": ") + large.error));
    QCOMPARE(large.value->totalInCents(), 9000000000000000LL);
    // ... one more line of 72 x 99,989,649,181 cents makes 9,007,199,254,741,032: refused, naming the limit.
    items.append(QJsonObject{{"productId", "sku-2"}, {"productName", "Gadget"}, {"quantity", 72},
                             {"unitPriceInCents", 99989649181.0}});
    const Parsed<OrderRequest> tooLarge = SagaJson::orderRequestFromJson(withValue(validOrderRequest(), "items", items));
    QVERIFY(!tooLarge.ok());
    QCOMPARE(tooLarge.field, QStringLiteral("items"));
    QVERIFY2(tooLarge.error.contains(QLatin1String("9007199254740991")), qPrintable(tooLarge.error));
}

void tst_SagaJson::orderRequestInvalid_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<QJsonValue>("value");
    QTest::addColumn<QString>("field");
    const QJsonValue missing(QJsonValue::Undefined);
    QTest::newRow("customerId missing") << "customerId" << missing << "customerId";
    QTest::newRow("customerId not uuid") << "customerId" << QJsonValue("bob") << "customerId";
    QTest::newRow("customerId number") << "customerId" << QJsonValue(5) << "customerId";
    QTest::newRow("items missing") << "items" << missing << "items";
    QTest::newRow("items empty") << "items" << QJsonValue(QJsonArray()) << "items";
    QTest::newRow("items object") << "items" << QJsonValue(QJsonObject()) << "items";
    QJsonArray tooMany;
    for (int i = 0; i < 101; ++i)
        tooMany.append(validOrderRequest().value("items").toArray().at(0));
    QTest::newRow("items too many") << "items" << QJsonValue(tooMany) << "items";
    QTest::newRow("item not object") << "items[0]" << QJsonValue("x") << "items[0]";
    QTest::newRow("productId empty") << "items[0].productId" << QJsonValue("") << "items[0].productId";
    QTest::newRow("productId missing") << "items[0].productId" << missing << "items[0].productId";
    QTest::newRow("productName number") << "items[0].productName" << QJsonValue(1) << "items[0].productName";
    // order_items.product_name is NOT NULL: refused here, not by the store (409 before).
    QTest::newRow("productName missing") << "items[0].productName" << missing << "items[0].productName";
    QTest::newRow("productName null") << "items[0].productName" << QJsonValue(QJsonValue::Null) << "items[0].productName";
    QTest::newRow("productName blank") << "items[0].productName" << QJsonValue("  ") << "items[0].productName";
    // 99 x 999 x 99,999,999,999 cents: each field in range, the total above 2^53 - 1.
    QJsonArray costly;
    for (int i = 0; i < 99; ++i)
        costly.append(QJsonObject{{"productId", "sku-1"}, {"productName", "Widget"}, {"quantity", 999},
                                  {"unitPriceInCents", 99999999999.0}});
    QTest::newRow("total above 2^53") << "items" << QJsonValue(costly) << "items";
    QTest::newRow("quantity zero") << "items[0].quantity" << QJsonValue(0) << "items[0].quantity";
    QTest::newRow("quantity 1001") << "items[0].quantity" << QJsonValue(1001) << "items[0].quantity";
    QTest::newRow("quantity fraction") << "items[0].quantity" << QJsonValue(1.5) << "items[0].quantity";
    QTest::newRow("quantity string") << "items[0].quantity" << QJsonValue("2") << "items[0].quantity";
    QTest::newRow("price negative") << "items[0].unitPriceInCents" << QJsonValue(-1) << "items[0].unitPriceInCents";
    QTest::newRow("price huge") << "items[0].unitPriceInCents" << QJsonValue(1e300) << "items[0].unitPriceInCents";
    QTest::newRow("payment missing") << "paymentMethodId" << missing << "paymentMethodId";
    QTest::newRow("payment blank") << "paymentMethodId" << QJsonValue("   ") << "paymentMethodId";
    QTest::newRow("payment huge") << "paymentMethodId" << QJsonValue(QString(5000, QLatin1Char('x'))) << "paymentMethodId";
    QTest::newRow("address missing") << "shippingAddress" << missing << "shippingAddress";
    QTest::newRow("address string") << "shippingAddress" << QJsonValue("Main St") << "shippingAddress";
    QTest::newRow("street empty") << "shippingAddress.street" << QJsonValue("") << "shippingAddress.street";
    QTest::newRow("city missing") << "shippingAddress.city" << missing << "shippingAddress.city";
    QTest::newRow("state null") << "shippingAddress.state" << QJsonValue(QJsonValue::Null) << "shippingAddress.state";
    QTest::newRow("postalCode number") << "shippingAddress.postalCode" << QJsonValue(62701) << "shippingAddress.postalCode";
    QTest::newRow("country empty") << "shippingAddress.country" << QJsonValue("") << "shippingAddress.country";
    // Fields the API does not know: refused, naming them, not dropped.
    QTest::newRow("unknown field") << "couponCode" << QJsonValue("SAVE10") << "couponCode";
    QTest::newRow("item unknown field") << "items[0].giftWrap" << QJsonValue(true) << "items[0].giftWrap";
    QTest::newRow("address unknown field") << "shippingAddress.street2" << QJsonValue("Apt 4") << "shippingAddress.street2";
    QTest::newRow("address misspelt field") << "shippingAddress.postalcode" << QJsonValue("62701") << "shippingAddress.postalcode";
}

void tst_SagaJson::orderRequestInvalid()
{
    QFETCH(QString, path);
    QFETCH(QJsonValue, value);
    QFETCH(QString, field);
    const Parsed<OrderRequest> r = SagaJson::orderRequestFromJson(withValue(validOrderRequest(), path, value));
    QVERIFY(!r.ok());
    QCOMPARE(r.field, field);
    QVERIFY(!r.error.isEmpty());
}

void tst_SagaJson::orderRequestRoundTrip()
{
    const OrderRequest req = *SagaJson::orderRequestFromJson(validOrderRequest()).value;
    QCOMPARE(SagaJson::orderRequestToJson(req), validOrderRequest());
}

void tst_SagaJson::retryRequest()
{
    Parsed<RetryRequest> r = SagaJson::retryRequestFromJson({});
    QVERIFY(r.ok());
    QVERIFY(!r.value->paymentMethodId);
    QVERIFY(!r.value->shippingAddress);
    r = SagaJson::retryRequestFromJson(parse(R"({"paymentMethodId": "card-2"})"));
    QCOMPARE(r.value->paymentMethodId, std::optional<QString>(QStringLiteral("card-2")));
    r = SagaJson::retryRequestFromJson(parse(R"({"paymentMethodId": ""})"));
    QCOMPARE(r.field, QStringLiteral("paymentMethodId"));
    r = SagaJson::retryRequestFromJson(parse(R"({"shippingAddress": {"street": "a", "city": "b"}})"));
    QCOMPARE(r.field, QStringLiteral("shippingAddress.state"));
    // A misspelt correction is refused, not ignored (it would retry with what failed).
    r = SagaJson::retryRequestFromJson(parse(R"({"paymentMethodID": "card-2"})"));
    QVERIFY(!r.ok());
    QCOMPARE(r.field, QStringLiteral("paymentMethodID"));
    QVERIFY2(r.error.contains(QLatin1String("paymentMethodId")), qPrintable(r.error));
    // So is one inside the corrected address (it was dropped: "street2" never reached the order).
    r = SagaJson::retryRequestFromJson(parse(R"({"shippingAddress": {"street": "1 Main St", "street2": "Apt 4",
        "city": "Springfield", "state": "IL", "postalCode": "62701", "country": "US"}})"));
    QVERIFY(!r.ok());
    QCOMPARE(r.field, QStringLiteral("shippingAddress.street2"));
    QCOMPARE(r.error, QStringLiteral("is not a field of a shipping address (street, city, state, postalCode, country)"));
}

// A retry built in this process (the console's Retry dialog) goes through the
// rules saga-server applies to the body it would be sent as.
void tst_SagaJson::retryRequestChecked()
{
    RetryRequest request;
    request.orderId = kOrder;
    request.traceId = QStringLiteral("trace-1");
    request.paymentMethodId = QStringLiteral("pm-visa-4242");
    request.shippingAddress = SagaJson::orderRequestFromJson(validOrderRequest()).value->shippingAddress;
    Parsed<RetryRequest> r = SagaJson::checkRetryRequest(request);
    QVERIFY(r.ok());
    QCOMPARE(r.value->orderId, kOrder); // the URL's part, kept
    QCOMPARE(r.value->traceId, QStringLiteral("trace-1"));
    QCOMPARE(r.value->paymentMethodId, request.paymentMethodId);
    QCOMPARE(*r.value->shippingAddress, *request.shippingAddress);
    QCOMPARE(SagaJson::retryRequestToJson(request).keys(),
             (QStringList{QStringLiteral("paymentMethodId"), QStringLiteral("shippingAddress")}));
    QVERIFY(SagaJson::retryRequestToJson(RetryRequest{}).isEmpty()); // nothing corrected: {}

    request.paymentMethodId = QString(257, QLatin1Char('p'));
    r = SagaJson::checkRetryRequest(request);
    QCOMPARE(r.field, QStringLiteral("paymentMethodId"));
    QCOMPARE(r.error, QStringLiteral("must be at most 256 characters"));
    request.paymentMethodId.reset();
    request.shippingAddress->street = QStringLiteral("Main St") + QChar(0) + QStringLiteral("1");
    r = SagaJson::checkRetryRequest(request);
    QCOMPARE(r.field, QStringLiteral("shippingAddress.street"));
    QVERIFY2(r.error.contains(QLatin1String("NUL")), qPrintable(r.error));
    request.shippingAddress->street = QStringLiteral("Main St 1");
    request.shippingAddress->postalCode = QString(33, QLatin1Char('9'));
    r = SagaJson::checkRetryRequest(request);
    QCOMPARE(r.field, QStringLiteral("shippingAddress.postalCode"));
}

void tst_SagaJson::orderRecordRoundTrip()
{
    OrderRecord rec;
    rec.id = kOrder;
    rec.orderNumber = QStringLiteral("ORD-20240110-000001");
    rec.customerId = QUuid::fromString(QStringLiteral("11111111-2222-3333-4444-555555555555"));
    rec.status = OrderRecordStatus::Completed;
    rec.items = SagaJson::orderRequestFromJson(validOrderRequest()).value->items;
    rec.paymentMethodId = QStringLiteral("card-visa");
    rec.shippingAddress = SagaJson::orderRequestFromJson(validOrderRequest()).value->shippingAddress;
    rec.totalInCents = 2500;
    rec.confirmationNumber = QStringLiteral("CONF-1");
    rec.totalChargedInCents = 2500;
    rec.estimatedDelivery = QStringLiteral("2024-01-15");
    rec.createdAt = baseTime();
    rec.updatedAt = baseTime().addSecs(3);
    const QJsonObject json = SagaJson::orderRecordToJson(rec);
    const Parsed<OrderRecord> back = SagaJson::orderRecordFromJson(json);
    QVERIFY2(back.ok(), qPrintable(back.field + QLatin1String(": ") + back.error));
    QCOMPARE(SagaJson::orderRecordToJson(*back.value), json);
    QCOMPARE(json.value("status").toString(), QStringLiteral("COMPLETED"));
    rec.totalChargedInCents = -1;
    rec.confirmationNumber.clear();
    const QJsonObject pending = SagaJson::orderRecordToJson(rec);
    QVERIFY(pending.value("totalChargedInCents").isNull());
    QVERIFY(pending.value("confirmationNumber").isNull());
    QCOMPARE(SagaJson::orderRecordFromJson(pending).value->totalChargedInCents, -1);
    QCOMPARE(SagaJson::orderRecordFromJson(withValue(json, QStringLiteral("status"), QJsonValue("SHIPPED"))).field,
             QStringLiteral("status"));
}

void tst_SagaJson::eligibilityRoundTrip()
{
    RetryEligibility e;
    e.eligible = false;
    e.reason = QStringLiteral("retry cooldown period not elapsed");
    e.requiredActions = {QStringLiteral("UPDATE_PAYMENT_METHOD")};
    e.retryCount = 1;
    e.maxRetries = 3;
    e.nextRetryAvailableAt = baseTime().addSecs(30);
    const QJsonObject json = SagaJson::eligibilityToJson(e);
    QCOMPARE(sortedKeys(json), (QStringList{"eligible", "maxRetries", "nextRetryAvailableAt", "reason",
                                            "requiredActions", "retryCount"}));
    const Parsed<RetryEligibility> back = SagaJson::eligibilityFromJson(json);
    QVERIFY(back.ok());
    QCOMPARE(back.value->requiredActions, e.requiredActions);
    QCOMPARE(back.value->nextRetryAvailableAt, e.nextRetryAvailableAt);
    QCOMPARE(SagaJson::eligibilityFromJson(withValue(json, QStringLiteral("requiredActions"), QJsonArray{1})).field,
             QStringLiteral("requiredActions[0]"));

    RetryAttempt a;
    a.attemptNumber = 2;
    a.initiatedAt = baseTime();
    a.resumedFromStep = QStringLiteral("Payment Processing");
    a.outcome = QStringLiteral("SUCCESS");
    QCOMPARE(sortedKeys(SagaJson::retryAttemptToJson(a)),
             (QStringList{"attemptNumber", "initiatedAt", "outcome", "resumedFromStep"}));
}

void tst_SagaJson::faultPlanRoundTrip()
{
    FaultPlan plan;
    QVERIFY(plan.isEmpty());
    plan[SagaStep::Payment].kind = StepFault::Kind::Fail;
    plan[SagaStep::Payment].errorCode = QStringLiteral("PAYMENT_DECLINED");
    plan[SagaStep::Shipping].kind = StepFault::Kind::Delay;
    plan[SagaStep::Shipping].delayMs = 1500;
    plan[SagaStep::Shipping].probability = 0.25;
    plan[SagaStep::Shipping].once = false;
    QVERIFY(!plan.isEmpty());
    QString field;
    QString error;
    const auto back = FaultPlan::fromJson(plan.toJson(), &field, &error);
    QVERIFY2(back.has_value(), qPrintable(field + QLatin1String(": ") + error));
    QVERIFY(*back == plan);
    QCOMPARE(toString(StepFault::Kind::FailCompensation), QStringLiteral("FAIL_COMPENSATION"));
    QCOMPARE(stepFaultKindFromString(u"TIMEOUT"), std::optional<StepFault::Kind>(StepFault::Kind::Timeout));
}

void tst_SagaJson::faultPlanInvalid_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("field");
    QTest::newRow("steps array") << QByteArray(R"({"steps": []})") << "steps";
    QTest::newRow("unknown step") << QByteArray(R"({"steps": {"Billing": {}}})") << "steps.Billing";
    QTest::newRow("kind") << QByteArray(R"({"steps": {"Payment Processing": {"kind": "EXPLODE"}}})") << "steps.Payment Processing.kind";
    QTest::newRow("probability") << QByteArray(R"({"steps": {"Payment Processing": {"kind": "FAIL", "probability": 1.5}}})") << "steps.Payment Processing.probability";
    QTest::newRow("delay") << QByteArray(R"({"steps": {"Shipping Arrangement": {"kind": "DELAY", "delayMs": -1}}})") << "steps.Shipping Arrangement.delayMs";
    QTest::newRow("once") << QByteArray(R"({"steps": {"Shipping Arrangement": {"once": "yes"}}})") << "steps.Shipping Arrangement.once";
    // The engine's own codes, which no step answers (an injected COMPENSATION_FAILED on
    // Shipping ended ROLLED_BACK, yet read as "We could not fully undo..." and non-retryable).
    QTest::newRow("compensation failed") << QByteArray(R"({"steps": {"Shipping Arrangement": {"kind": "FAIL", "errorCode": "COMPENSATION_FAILED"}}})") << "steps.Shipping Arrangement.errorCode";
    QTest::newRow("store refused") << QByteArray(R"({"steps": {"Inventory Reservation": {"kind": "FAIL", "errorCode": "STORE_REFUSED"}}})") << "steps.Inventory Reservation.errorCode";
    QTest::newRow("amount mismatch") << QByteArray(R"({"steps": {"Payment Processing": {"kind": "FAIL", "errorCode": "PAYMENT_AMOUNT_MISMATCH"}}})") << "steps.Payment Processing.errorCode";
    QTest::newRow("step timeout") << QByteArray(R"({"steps": {"Payment Processing": {"kind": "FAIL", "errorCode": "step_timeout"}}})") << "steps.Payment Processing.errorCode";
    QTest::newRow("another step's code") << QByteArray(R"({"steps": {"Inventory Reservation": {"kind": "FAIL", "errorCode": "FRAUD_DETECTED"}}})") << "steps.Inventory Reservation.errorCode";
    // Misspelt fields were ignored: "probabilty" 0.1 applied the fault every time, and
    // "step" (for "steps") cleared the whole plan, both answered 200.
    QTest::newRow("misspelt probability") << QByteArray(R"({"steps": {"Payment Processing": {"kind": "FAIL", "probabilty": 0.1}}})") << "steps.Payment Processing.probabilty";
    QTest::newRow("misspelt steps") << QByteArray(R"({"step": {"Payment Processing": {"kind": "FAIL"}}})") << "step";
}

// What a fault may fail a step with: its own codes, SERVICE_UNAVAILABLE, a code of
// the operator's own; the refusal names the allowed ones. A plan built in the
// process is checked the same way (the embedded engine's).
void tst_SagaJson::faultPlanCodes()
{
    QCOMPARE(suggestedFaultCodes(SagaStep::Payment),
             (QStringList{"PAYMENT_DECLINED", "FRAUD_DETECTED", "SERVICE_UNAVAILABLE"}));
    QCOMPARE(suggestedFaultCodes(SagaStep::Shipping),
             (QStringList{"INVALID_ADDRESS", "SHIPPING_UNAVAILABLE", "SERVICE_UNAVAILABLE"}));
    for (const char *ok : {"PAYMENT_DECLINED", "FRAUD_DETECTED", "SERVICE_UNAVAILABLE", "GATEWAY_ON_FIRE", ""})
        QVERIFY2(faultCodeProblem(SagaStep::Payment, QString::fromLatin1(ok)).isEmpty(), ok);
    QCOMPARE(faultCodeProblem(SagaStep::Shipping, QStringLiteral("COMPENSATION_FAILED")),
             QStringLiteral("COMPENSATION_FAILED is the engine's own code, not a step's answer: fail Shipping "
                            "Arrangement with INVALID_ADDRESS, SHIPPING_UNAVAILABLE, SERVICE_UNAVAILABLE or a code of "
                            "your own"));
    QCOMPARE(faultCodeProblem(SagaStep::Inventory, QStringLiteral("FRAUD_DETECTED")),
             QStringLiteral("FRAUD_DETECTED is Payment Processing's code: fail Inventory Reservation with "
                            "INVENTORY_UNAVAILABLE, SERVICE_UNAVAILABLE or a code of your own"));
    QVERIFY(faultCodeProblem(SagaStep::Payment, QStringLiteral("STEP_TIMEOUT")).contains(QLatin1String("kind TIMEOUT")));

    FaultPlan plan;
    plan[SagaStep::Payment].kind = StepFault::Kind::Fail;
    plan[SagaStep::Payment].errorCode = QStringLiteral("PAYMENT_DECLINED");
    plan[SagaStep::Shipping].kind = StepFault::Kind::Delay;
    plan[SagaStep::Shipping].errorCode = QStringLiteral("COMPENSATION_FAILED"); // not a FAIL: not used
    QString field;
    QString error;
    QVERIFY(plan.checkCodes(&field, &error));
    QVERIFY(FaultPlan::fromJson(plan.toJson(), &field, &error));
    plan[SagaStep::Shipping].kind = StepFault::Kind::Fail;
    QVERIFY(!plan.checkCodes(&field, &error));
    QCOMPARE(field, QStringLiteral("steps.Shipping Arrangement.errorCode"));
    QVERIFY2(error.startsWith(QLatin1String("COMPENSATION_FAILED is the engine's own code")), qPrintable(error));
    QVERIFY(!FaultPlan::fromJson(plan.toJson(), &field, &error));
    QCOMPARE(field, QStringLiteral("steps.Shipping Arrangement.errorCode"));
}

void tst_SagaJson::faultPlanInvalid()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, field);
    QString actualField;
    QString error;
    QVERIFY(!FaultPlan::fromJson(QJsonDocument::fromJson(json).object(), &actualField, &error));
    QCOMPARE(actualField, field);
    QVERIFY(!error.isEmpty());
    if (field.endsWith(QLatin1String("probabilty")) || field == QLatin1String("step")) {
        QVERIFY2(error.startsWith(QLatin1String("is not a field of")), qPrintable(error));
        // A plan read back from a (newer) server may carry fields this one does not know.
        const auto tolerant = FaultPlan::fromJson(QJsonDocument::fromJson(json).object(), &actualField, &error,
                                                  FaultPlan::Fields::IgnoreUnknown);
        QVERIFY2(tolerant, qPrintable(error));
    }
}

void tst_SagaJson::garbageNeverCrashes()
{
    // Every key of every shape replaced by values of every JSON type.
    const QList<QJsonValue> values{QJsonValue(QJsonValue::Null), QJsonValue(true), QJsonValue(-1),
                                   QJsonValue(1e308), QJsonValue(QString()), QJsonValue(QStringLiteral("x")),
                                   QJsonValue(QJsonArray{1, 2}), QJsonValue(QJsonObject{{"a", 1}})};
    const QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder);
    const OrderProgress p = foldPrefix(events, events.size());
    const QList<QJsonObject> shapes{SagaJson::statusToJson(p), SagaJson::statusEventToJson(events[4], QStringLiteral("FAILED")),
                                    SagaJson::historyToJson(HistoryBuilder::build(events)), validOrderRequest()};
    int parsed = 0;
    for (const QJsonObject &shape : shapes) {
        for (const QString &key : shape.keys()) {
            for (const QJsonValue &v : values) {
                QJsonObject o = shape;
                o.insert(key, v);
                parsed += SagaJson::statusFromJson(o).ok();
                parsed += SagaJson::statusEventFromJson(o).ok();
                parsed += SagaJson::historyFromJson(o).ok();
                parsed += SagaJson::orderRequestFromJson(o).ok();
                parsed += SagaJson::orderRecordFromJson(o).ok();
                parsed += SagaJson::eligibilityFromJson(o).ok();
                parsed += SagaJson::retryRequestFromJson(o).ok();
            }
        }
    }
    QVERIFY(parsed > 0); // some replacements are harmless (e.g. optional keys set to null)
}

// Text PostgreSQL refuses (U+0000) or that has no UTF-8 form (an unpaired
// surrogate) is named by textProblem() and replaced by storableText().
void tst_SagaJson::textStoresCanKeep()
{
    const QString parcel = QStringLiteral("\U0001F4E6"); // a surrogate pair
    const QChar high = parcel.at(0);
    const QChar low = parcel.at(1);
    QCOMPARE(SagaJson::textProblem(u""), nullptr);
    QCOMPARE(SagaJson::textProblem(QString(QStringLiteral("Ünïcödé ") + parcel)), nullptr);
    QVERIFY(QByteArray(SagaJson::textProblem(QString(QStringLiteral("a") + QChar(0) + QStringLiteral("b")))).contains("NUL"));
    QVERIFY(QByteArray(SagaJson::textProblem(QString(QStringLiteral("a")) + high)).contains("surrogate"));
    QVERIFY(QByteArray(SagaJson::textProblem(QString(low) + QStringLiteral("a"))).contains("surrogate"));
    QVERIFY(QByteArray(SagaJson::textProblem(QString(high) + high + low)).contains("surrogate"));

    const QString replacement(QChar::ReplacementCharacter);
    QCOMPARE(SagaJson::storableText(QStringLiteral("clean"), 10), QStringLiteral("clean"));
    QCOMPARE(SagaJson::storableText(QStringLiteral("abcdef"), 4), QStringLiteral("abcd"));
    QCOMPARE(SagaJson::storableText(QStringLiteral("ab") + parcel, 3), QStringLiteral("ab")); // pair not cut in two
    QCOMPARE(SagaJson::storableText(QStringLiteral("ab") + parcel, 4), QStringLiteral("ab") + parcel);
    QCOMPARE(SagaJson::storableText(QStringLiteral("a") + QChar(0) + QStringLiteral("b"), 10), "a" + replacement + "b");
    QCOMPARE(SagaJson::storableText(QString(low) + high + high + low, 10), replacement + replacement + parcel);
    QCOMPARE(SagaJson::textProblem(SagaJson::storableText(QString(high) + QChar(0) + low, 10)), nullptr);

    // The order body refuses both, naming the field.
    QJsonObject order = QJsonDocument::fromJson(R"({"customerId":"550e8400-e29b-41d4-a716-446655440000",
        "items":[{"productId":"p","productName":"n","quantity":1,"unitPriceInCents":1}],"paymentMethodId":"visa",
        "shippingAddress":{"street":"s","city":"c","state":"st","postalCode":"1","country":"US"}})").object();
    QVERIFY(SagaJson::orderRequestFromJson(order).ok());
    order.insert(QStringLiteral("paymentMethodId"), QStringLiteral("vi") + QChar(0) + QStringLiteral("sa"));
    const auto refused = SagaJson::orderRequestFromJson(order);
    QVERIFY(!refused.ok());
    QCOMPARE(refused.field, QStringLiteral("paymentMethodId"));
    QVERIFY2(refused.error.startsWith(QStringLiteral("must not contain NUL")), qPrintable(refused.error));
}

QTEST_APPLESS_MAIN(tst_SagaJson)
#include "tst_sagajson.moc"
