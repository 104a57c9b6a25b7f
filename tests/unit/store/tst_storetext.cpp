// The store's hand-written encoders against the references they replace: the
// compact JSON of event details and step results against QJsonDocument's own
// writer, the binary array of records against PostgreSQL's documented
// array_send/record_send layout (the PostgreSQL integration tests then store and
// read such arrays for real), and a batch plan from transitions the engine encoded
// ahead (BatchPlan::encode) against the plan of the same transitions unencoded.

#include "batchplan.h"
#include "pgbinary.h"
#include "storetext.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QtEndian>
#include <QtTest>

class tst_StoreText : public QObject
{
    Q_OBJECT
private slots:
    void jsonMatchesQtCompactWriter_data();
    void jsonMatchesQtCompactWriter();
    void eventDetailsPutErrorAmongTheKeys_data();
    void eventDetailsPutErrorAmongTheKeys();
    void emptyRecordArray();
    void recordArrayLayout();
    void utf8NamesMatchTheTextNames();
    void encodedTransitionsPlanAsUnencoded_data();
    void encodedTransitionsPlanAsUnencoded();
};

static QByteArray qtCompact(const QJsonObject &o) { return QJsonDocument(o).toJson(QJsonDocument::Compact); }

void tst_StoreText::jsonMatchesQtCompactWriter_data()
{
    QTest::addColumn<QJsonObject>("object");
    QTest::newRow("empty") << QJsonObject();
    QTest::newRow("step result") << QJsonObject{{"reservationId", "RES-1a2b"}, {"trackingNumber", "1Z999"},
                                                {"estimatedDelivery", "2026-12-01"}};
    QTest::newRow("escapes") << QJsonObject{{"q", "say \"hi\""}, {"b", "back\\slash"},
                                            {"c", QString("\b\f\n\r\t") + QChar(1) + QChar(0x1f) + QChar(0x7f)}};
    QTest::newRow("non-ASCII") << QJsonObject{{"city", "Zürich"}, {"mark", "✓ done"}, {"emoji", "😀 x 😀"},
                                              {"mixed", "a\"ü\nö"}, {"schlüssel", 1}};
    QTest::newRow("numbers") << QJsonObject{{"zero", 0}, {"neg", -5}, {"cents", qint64(2100)},
                                            {"big", qint64(9007199254740993LL)}, {"max", std::numeric_limits<qint64>::max()},
                                            {"half", 1.5}, {"small", -0.25}, {"huge", 1e20}, {"tiny", 1e-7},
                                            {"integral", 3.0}};
    QTest::newRow("other") << QJsonObject{{"yes", true}, {"no", false}, {"nothing", QJsonValue::Null},
                                          {"list", QJsonArray{1, "two", QJsonArray{}, QJsonObject{{"k", "v"}}, false}},
                                          {"nested", QJsonObject{{"inner", QJsonObject{{"deep", "\"x\""}}}}}};
}

void tst_StoreText::jsonMatchesQtCompactWriter()
{
    QFETCH(QJsonObject, object);
    QByteArray ours = "prefix:";
    StoreText::appendJson(ours, object);
    QCOMPARE(ours, "prefix:" + qtCompact(object));
}

void tst_StoreText::eventDetailsPutErrorAmongTheKeys_data()
{
    QTest::addColumn<QJsonObject>("details");
    QTest::newRow("no details") << QJsonObject();
    QTest::newRow("keys before and after") << QJsonObject{{"attempt", 2}, {"phase", "FORWARD"}, {"retryable", true}};
    QTest::newRow("keys after only") << QJsonObject{{"phase", "COMPENSATION"}};
    QTest::newRow("keys before only") << QJsonObject{{"attempt", 1}, {"compensationIncomplete", true}};
    QTest::newRow("details carry an error") << QJsonObject{{"error", "stale"}, {"phase", "FORWARD"}};
}

void tst_StoreText::eventDetailsPutErrorAmongTheKeys()
{
    QFETCH(QJsonObject, details);
    OrderEvent e;
    e.details = details;
    QCOMPARE(StoreText::eventDetailsJson(e), qtCompact(details)); // no error: the details as they are

    e.error = ErrorInfo{"PAYMENT_DECLINED", "Card \"4000\" declined — ünïcode"};
    QJsonObject expected = details;
    expected.insert("error", QJsonObject{{"code", e.error.code}, {"message", e.error.message}});
    QCOMPARE(StoreText::eventDetailsJson(e), qtCompact(expected));

    OrderEvent back;
    StoreText::setEventDetails(back, StoreText::eventDetailsJson(e));
    QCOMPARE(back.error.code, e.error.code);
    QCOMPARE(back.error.message, e.error.message);
}

static QByteArray be32(quint32 v)
{
    QByteArray b(4, 0);
    qToBigEndian(v, b.data());
    return b;
}

void tst_StoreText::emptyRecordArray()
{
    PgBinary::RecordArray a(16401, 3);
    QCOMPARE(a.rows(), 0);
    // No dimensions: ndim 0, no NULLs, the element type.
    QCOMPARE(a.finish(), be32(0) + be32(0) + be32(16401));
}

void tst_StoreText::recordArrayLayout()
{
    PgBinary::RecordArray a(16401, 5);
    a.row().text("ab").int8(qint64(-2)).int8(std::nullopt).boolean(true).text(QString());
    a.row().text("ü").int8(qint64(1) << 40).int8(std::optional<qint64>(7)).boolean(false).json("{}");
    QCOMPARE(a.rows(), 2);

    auto field = [](quint32 type, const QByteArray &bytes) { return be32(type) + be32(quint32(bytes.size())) + bytes; };
    auto null = [](quint32 type) { return be32(type) + be32(0xffffffffu); };
    QByteArray int8m2(8, char(0xff));
    int8m2[7] = char(0xfe);
    const QByteArray first = be32(5) + field(25, "ab") + field(20, int8m2) + null(20) + field(16, QByteArray(1, 1)) + null(25);
    QByteArray big(8, 0);
    big[2] = 1; // 2^40
    QByteArray seven(8, 0);
    seven[7] = 7;
    const QByteArray second = be32(5) + field(25, "\xc3\xbc") + field(20, big) + field(20, seven) + field(16, QByteArray(1, 0))
        + field(114, "{}");
    // ndim 1, no NULL elements, element type, 2 elements from index 1; each element: its length, then the record.
    const QByteArray expected = be32(1) + be32(0) + be32(16401) + be32(2) + be32(1) + be32(quint32(first.size())) + first
        + be32(quint32(second.size())) + second;
    QCOMPARE(a.finish(), expected);
}

// Every value of an enum with `count` values: its UTF-8 name is its text name,
// answered at the same address each time.
template<typename Enum>
static void checkUtf8Names(int count, QByteArray (*utf8)(Enum), QString (*text)(Enum))
{
    for (int i = 0; i < count; ++i) {
        const QByteArray name = utf8(Enum(i));
        QVERIFY(!text(Enum(i)).isEmpty());
        QCOMPARE(QString::fromUtf8(name), text(Enum(i)));
        QCOMPARE(utf8(Enum(i)).constData(), name.constData());
    }
}

// The UTF-8 names the committer binds in place are the stored names, made once.
void tst_StoreText::utf8NamesMatchTheTextNames()
{
    using namespace StoreText;
    checkUtf8Names<OverallStatus>(kOverallStatusCount, overallUtf8, overallText);
    QVERIFY(!QTest::currentTestFailed());
    checkUtf8Names<StepStatus>(kStepStatusCount, stepStatusUtf8, stepStatusText);
    QVERIFY(!QTest::currentTestFailed());
    checkUtf8Names<SagaStep>(kStepCount, stepNameUtf8, stepDisplayName);
    QVERIFY(!QTest::currentTestFailed());
    checkUtf8Names<EventType>(kEventTypeCount, eventTypeUtf8, toString);
    QVERIFY(!QTest::currentTestFailed());
    QCOMPARE(eventTypeUtf8(EventType::StepCompleted), QByteArray("STEP_COMPLETED"));
    QCOMPARE(stepNameUtf8(SagaStep::Payment), QByteArray("Payment Processing"));
}

void tst_StoreText::encodedTransitionsPlanAsUnencoded_data()
{
    QTest::addColumn<bool>("numbered"); // SQLite numbers new orders in the plan; PostgreSQL in the database
    QTest::newRow("SQLite: numbers in the plan") << true;
    QTest::newRow("PostgreSQL: numbers from the database") << false;
}

void tst_StoreText::encodedTransitionsPlanAsUnencoded()
{
    QFETCH(bool, numbered);
    const QUuid a = QUuid::fromString(QStringLiteral("0192a7c4-0000-7000-8000-00000000000a"));
    const QUuid b = QUuid::fromString(QStringLiteral("0192a7c4-0000-7000-8000-00000000000b"));
    const QDateTime at = QDateTime::fromMSecsSinceEpoch(1764979200123, Qt::UTC);
    auto transition = [&](const QUuid &order, const QString &execution, qint64 seq, EventType type,
                          std::optional<SagaStep> step, QJsonObject details) {
        StoreTransition t;
        t.event.orderId = order;
        t.event.seq = seq;
        t.event.type = type;
        t.event.step = step;
        t.event.timestamp = at.addMSecs(seq);
        t.event.details = std::move(details);
        t.executionId = execution;
        t.overall = OverallStatus::InProgress;
        t.currentStep = step;
        return t;
    };
    QVector<StoreTransition> batch;
    StoreTransition start = transition(a, QStringLiteral("ex-ä"), 1, EventType::SagaStarted, std::nullopt,
                                       {{"executionId", "ex-ä"}, {"attemptNumber", 1}});
    OrderRequest order;
    order.customerId = b;
    order.items = {OrderItem{"p-1", "Thing", 2, 500}};
    order.paymentMethodId = QStringLiteral("visa");
    order.shippingAddress = ShippingAddress{"1 Main", "Zürich", "ZH", "8000", "CH"};
    start.newOrder = order;
    start.newOrderId = a;
    batch << start;
    StoreTransition reserve = transition(a, QStringLiteral("ex-ä"), 2, EventType::StepStarted, SagaStep::Inventory,
                                         {{"idempotencyKey", "ex-ä:inventory:reserve"}});
    reserve.stepStatus = StepStatus::InProgress;
    batch << reserve;
    StoreTransition reserved = transition(b, QStringLiteral("ex-b"), 5, EventType::StepCompleted, SagaStep::Payment,
                                          {{"authorizationId", "AUTH-\"1\""}, {"amountInCents", 1000}});
    reserved.stepStatus = StepStatus::Completed;
    reserved.stepResult = reserved.event.details;
    batch << reserved;
    StoreTransition failed = transition(b, QStringLiteral("ex-b"), 6, EventType::StepFailed, SagaStep::Shipping,
                                        {{"phase", "FORWARD"}, {"retryable", false}});
    failed.event.error = ErrorInfo{"INVALID_ADDRESS", "no such street ✓"};
    failed.stepStatus = StepStatus::Failed;
    batch << failed;

    QVector<StoreTransition> encoded = batch;
    for (StoreTransition &t : encoded) {
        BatchPlan::encode(t);
        QVERIFY(!t.encoded.orderId.isNull());
        QVERIFY(!t.encoded.executionId.isNull());
    }
    QVERIFY(encoded[0].encoded.details.isNull()); // a new order's number is added at commit
    QCOMPARE(encoded[2].encoded.stepResult, QByteArray(R"({"amountInCents":1000,"authorizationId":"AUTH-\"1\""})"));

    const std::optional<qint64> firstNumber = numbered ? std::optional<qint64>(41) : std::nullopt;
    QVector<OrderEvent> plainEvents, encodedEvents;
    for (const StoreTransition &t : batch)
        plainEvents << t.event;
    encodedEvents = plainEvents;
    const BatchPlan plain = BatchPlan::build(batch, plainEvents, 99, firstNumber);
    const BatchPlan ahead = BatchPlan::build(encoded, encodedEvents, 99, firstNumber);

    QCOMPARE(ahead.events.size(), plain.events.size());
    for (int i = 0; i < plain.events.size(); ++i) {
        QCOMPARE(ahead.events[i].orderId, plain.events[i].orderId);
        QCOMPARE(ahead.events[i].details, plain.events[i].details);
        QCOMPARE(ahead.events[i].createsOrder, plain.events[i].createsOrder);
    }
    QCOMPARE(plain.events[0].orderId, QByteArray("0192a7c4-0000-7000-8000-00000000000a"));
    QCOMPARE(plain.events[0].details.contains("\"orderNumber\":\"ORD-"), numbered);
    QCOMPARE(plain.events[3].details,
             QByteArray(R"({"error":{"code":"INVALID_ADDRESS","message":"no such street ✓"},"phase":"FORWARD","retryable":false})"));
    QCOMPARE(ahead.stepResults.size(), plain.stepResults.size());
    QCOMPARE(plain.stepResults.size(), 3);
    for (int i = 0; i < plain.stepResults.size(); ++i) {
        QCOMPARE(ahead.stepResults[i].executionId, plain.stepResults[i].executionId);
        QCOMPARE(ahead.stepResults[i].result, plain.stepResults[i].result);
        QCOMPARE(ahead.stepResults[i].status, plain.stepResults[i].status);
        QCOMPARE(ahead.stepResults[i].stepName, plain.stepResults[i].stepName);
    }
    QCOMPARE(plain.stepResults[0].executionId, QByteArray("ex-ä"));
    QCOMPARE(plain.stepResults[0].stepName, QByteArray("Inventory Reservation"));
    QCOMPARE(plain.stepResults[0].status, QByteArray("IN_PROGRESS"));
    QCOMPARE(plain.stepResults[2].status, QByteArray("FAILED"));
    QCOMPARE(plain.stepResults[1].result, encoded[2].encoded.stepResult);
    QCOMPARE(ahead.executionUpdates.size(), plain.executionUpdates.size());
    for (int i = 0; i < plain.executionUpdates.size(); ++i)
        QCOMPARE(ahead.executionUpdates[i].executionId, plain.executionUpdates[i].executionId);
    QCOMPARE(plain.executionUpdates.size(), 1); // ex-b; ex-ä is inserted in its final state
    QCOMPARE(plain.executionUpdates[0].executionId, QByteArray("ex-b"));
}

QTEST_GUILESS_MAIN(tst_StoreText)
#include "tst_storetext.moc"
