// The orchestrator with the HTTP step client against a real WireMock (the
// mappings in resources/wiremock): the failure triggers, compensation endpoints,
// and WireMock's faults (connection reset, empty response, delays past the
// timeout, 5xx, 408 and 429 after their Retry-After) retried with the same
// Idempotency-Key; other 4xx never retried; answers that say nothing of what was
// done (over 1 MiB, a 2xx without the step's id, a redirect, a 2xx whose body broke
// off) never taken as done; ids never shortened nor taken from another step's answer;
// a service cannot answer with the engine's own codes; a call never sent is not
// reversed; one slow endpoint does not make other calls time out; a compensation
// answered 404/410 is done (on record), any other 4xx a failed one; a payment of
// another amount than asked is voided; an answer still arriving is not cut off.

#include "../../unit/engine/enginetesthelpers.h"
#include "httpstepclient.h"
#include "orderhistory.h"
#include "testservices.h"
#include "wiremockadmin.h"

#include <QTcpServer>
#include <QtTest>

class tst_HttpSteps : public QObject
{
    Q_OBJECT

private:
    QUrl m_wiremock;
    std::unique_ptr<WireMockAdmin> m_admin;

    EngineConfig config() const
    {
        EngineConfig c;
        c.database.kind = DatabaseUrl::Kind::Sqlite;
        c.database.path = TestServices::tempDir() + QStringLiteral("/http-%1.sqlite").arg(QUuid::createUuid().toString(QUuid::WithoutBraces));
        c.stepsBaseUrl = m_wiremock;
        c.stepTimeoutMs = 700;
        c.stepRetries = 3;
        c.compensationBudgetMs = 3000;
        c.retryCooldownSeconds = 0;
        return c;
    }

    bool start(EngineHarness &h, const EngineConfig &c)
    {
        QString error;
        const bool ok = h.start(c, &error, std::make_unique<HttpStepClient>(c.stepsBaseUrl, c.stepTimeoutMs, c.stepRetries));
        if (!ok)
            qWarning("%s", qPrintable(error));
        return ok;
    }

    // The requests WireMock received for `path`, oldest first.
    QVector<WireMockAdmin::Seen> requestsTo(const QString &path)
    {
        QVector<WireMockAdmin::Seen> out;
        for (const WireMockAdmin::Seen &s : m_admin->journal()) {
            if (s.path == path)
                out << s;
        }
        return out;
    }

    // A loopback URL where nothing listens: every connection is refused.
    static QUrl refusingUrl()
    {
        QTcpServer probe;
        if (!probe.listen(QHostAddress::LocalHost, 0))
            return {};
        return QUrl(QStringLiteral("http://127.0.0.1:%1").arg(probe.serverPort()));
    }

    // The events of one order from several engines' harnesses, folded.
    static OrderProgress fold(const QUuid &id, const QVector<OrderEvent> &events)
    {
        OrderProgress p(id);
        for (const OrderEvent &e : events) {
            if (e.orderId == id)
                p.apply(e);
        }
        return p;
    }

    QStringList paths()
    {
        QStringList out;
        for (const auto &s : m_admin->journal())
            out << s.path.section(QLatin1Char('/'), 1, 1) + QLatin1Char(' ') + s.path.section(QLatin1Char('/'), -1);
        return out;
    }

private Q_SLOTS:
    void initTestCase();
    void init();
    void triggers_data();
    void triggers();
    void transportFaultsRetriedWithSameKey_data();
    void transportFaultsRetriedWithSameKey();
    void timeoutExhaustedCompensates();
    void unansweredCallIsReversedFirst_data();
    void unansweredCallIsReversedFirst();
    void chargedAmountIsChecked_data();
    void chargedAmountIsChecked();
    void businessRejectionNotRetried();
    void compensationAnswers_data();
    void compensationAnswers();
    void keysPerExecutionStepAction();
    void serviceTextIsBoundedAndStorable();
    void answerThatSaysNothingIsNotTakenAsDone_data();
    void answerThatSaysNothingIsNotTakenAsDone();
    void numericIdsAreKeptAsIds();
    void slowEndpointHoldsUpOnlyItsOwnCalls();
    void unreachableServiceHasNothingToReverse();
    void resumedCallNotSentIsStillReversed();
    void stepKeepsOnlyItsOwnResult();
    void idsAreNeverShortened_data();
    void idsAreNeverShortened();
    void serviceCannotAnswerWithEngineCodes_data();
    void serviceCannotAnswerWithEngineCodes();
    void brokenAnswerIsNoCompensation();
    void failingCompensationIsWarnedOnce();
    void answerStillArrivingIsNotCutOff_data();
    void answerStillArrivingIsNotCutOff();
};

void tst_HttpSteps::initTestCase()
{
    QString error;
    m_wiremock = TestServices::wiremockUrl(&error);
    if (m_wiremock.isEmpty())
        QFAIL(qPrintable(QStringLiteral("WireMock could not be started: ") + error));
    m_admin = std::make_unique<WireMockAdmin>(m_wiremock);
}

void tst_HttpSteps::init()
{
    QString error;
    if (!TestServices::resetWireMock(&error))
        QFAIL(qPrintable(error));
}

void tst_HttpSteps::triggers_data()
{
    QTest::addColumn<QString>("product");
    QTest::addColumn<QString>("payment");
    QTest::addColumn<QString>("postal");
    QTest::addColumn<QString>("country");
    QTest::addColumn<QString>("code");
    QTest::addColumn<QStringList>("calls");
    QTest::newRow("happy") << "w" << "visa" << "62701" << "US" << ""
                           << QStringList{"inventory reservations", "payments authorizations", "shipping shipments"};
    QTest::newRow("out of stock") << "out-of-stock-product" << "visa" << "62701" << "US" << "INVENTORY_UNAVAILABLE"
                                  << QStringList{"inventory reservations"};
    QTest::newRow("declined") << "w" << "declined-card" << "62701" << "US" << "PAYMENT_DECLINED"
                              << QStringList{"inventory reservations", "payments authorizations", "inventory release"};
    QTest::newRow("fraud") << "w" << "fraud-card" << "62701" << "US" << "FRAUD_DETECTED"
                           << QStringList{"inventory reservations", "payments authorizations", "inventory release"};
    QTest::newRow("invalid address") << "w" << "visa" << "00000" << "US" << "INVALID_ADDRESS"
                                     << QStringList{"inventory reservations", "payments authorizations",
                                                    "shipping shipments", "payments void", "inventory release"};
    QTest::newRow("no shipping") << "w" << "visa" << "62701" << "XX" << "SHIPPING_UNAVAILABLE"
                                 << QStringList{"inventory reservations", "payments authorizations",
                                                "shipping shipments", "payments void", "inventory release"};
}

void tst_HttpSteps::triggers()
{
    QFETCH(QString, product);
    QFETCH(QString, payment);
    QFETCH(QString, postal);
    QFETCH(QString, country);
    QFETCH(QString, code);
    QFETCH(QStringList, calls);
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid id = h.submit(sampleOrder(product, payment, postal, country));
    QVERIFY(!id.isNull());
    QVERIFY(h.waitTerminal(id));
    const OrderProgress p = h.progress(id);
    if (code.isEmpty()) {
        QCOMPARE_ENUM(p.overallStatus, OverallStatus::Completed);
        const OrderEvent last = h.eventsOf(id).last();
        QCOMPARE(last.details.value("estimatedDelivery").toString(), QStringLiteral("2030-01-15"));
        QVERIFY(!last.details.value("confirmationNumber").toString().isEmpty());
    } else {
        QCOMPARE(p.failure.code, code);
    }
    QCOMPARE(paths(), calls);
    QCOMPARE(checkAllFold(h.events), QString());
}

void tst_HttpSteps::transportFaultsRetriedWithSameKey_data()
{
    QTest::addColumn<QJsonObject>("response");
    QTest::addColumn<qint64>("waitMs"); // the retry comes no sooner (Retry-After)
    QTest::newRow("connection reset") << QJsonObject{{"fault", "CONNECTION_RESET_BY_PEER"}} << qint64(0);
    QTest::newRow("empty response") << QJsonObject{{"fault", "EMPTY_RESPONSE"}} << qint64(0);
    QTest::newRow("delay past the timeout")
        << QJsonObject{{"status", 201}, {"fixedDelayMilliseconds", 2500}, {"jsonBody", QJsonObject{{"authorizationId", "LATE"}}}}
        << qint64(0);
    QTest::newRow("503") << QJsonObject{{"status", 503}} << qint64(0);
    QTest::newRow("408 request timeout") << QJsonObject{{"status", 408}} << qint64(0);
    QTest::newRow("429 with Retry-After")
        << QJsonObject{{"status", 429},
                       {"headers", QJsonObject{{"Retry-After", "2"}}},
                       {"jsonBody", QJsonObject{{"error", "RATE_LIMITED"}, {"message", "Slow down"}}}}
        << qint64(2000);
    // As an HTTP date (made when the row runs), three seconds ahead: whole seconds,
    // so at least two are left when it is read.
    QTest::newRow("503 with Retry-After as a date")
        << QJsonObject{{"status", 503}, {"headers", QJsonObject{{"Retry-After", "DATE+3"}}}} << qint64(1000);
}

void tst_HttpSteps::transportFaultsRetriedWithSameKey()
{
    QFETCH(QJsonObject, response);
    QFETCH(qint64, waitMs);
    QJsonObject headers = response.value("headers").toObject();
    if (headers.value("Retry-After").toString() == QLatin1String("DATE+3")) {
        headers.insert("Retry-After", QLocale::c().toString(QDateTime::currentDateTimeUtc().addSecs(3),
                                                            QStringLiteral("ddd, dd MMM yyyy HH:mm:ss 'GMT'")));
        response.insert("headers", headers);
    }
    m_admin->failFirst("fault", "/payments/authorizations", response);
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id));
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::Completed);
    QVector<QString> paymentKeys;
    QVector<qint64> paymentTimes;
    for (const WireMockAdmin::Seen &s : requestsTo("/payments/authorizations")) {
        paymentKeys << s.key;
        paymentTimes << s.loggedMs;
    }
    QCOMPARE(paymentKeys.size(), 2);
    QCOMPARE(paymentKeys[0], paymentKeys[1]); // the retry carries the same key
    QVERIFY2(paymentTimes[1] - paymentTimes[0] >= waitMs,
             qPrintable(QStringLiteral("retried after %1 ms").arg(paymentTimes[1] - paymentTimes[0])));
    QVERIFY(paymentKeys[0].endsWith(":payment:authorize"));
    QCOMPARE(h.eventsOf(id)[4].details.value("authorizationId").toString(), QStringLiteral("AUTH-WM-0001"));
}

void tst_HttpSteps::timeoutExhaustedCompensates()
{
    m_admin->failAlways("/shipping/shipments", QJsonObject{{"status", 201}, {"fixedDelayMilliseconds", 2500}});
    EngineConfig c = config();
    c.stepRetries = 1;
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    QCOMPARE(p.failure.code, QStringLiteral("STEP_TIMEOUT"));
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::RolledBack);
    // The shipment call may have happened: it is cancelled by key, best effort.
    QTRY_VERIFY_WITH_TIMEOUT(paths().contains("shipping cancel"), 10000);
    QVERIFY(paths().contains("payments void"));
    QVERIFY(paths().contains("inventory release"));
    QCOMPARE(checkAllFold(h.events), QString());
}

// A payment call that never answered may have authorised the card. It is voided
// first, retried within the compensation budget like any compensation, and only
// then is the inventory released (reverse order). A void that keeps failing ends
// the saga FAILED with "compensation incomplete" instead of ROLLED_BACK with the
// authorisation left standing. (It was one unrecorded, unretried call sent
// alongside the release.)
// A void answered 404 (no authorization under that key: the call never took effect)
// counts as done, its answer recorded with the rollback (uncertainStepAnswer).
void tst_HttpSteps::unansweredCallIsReversedFirst_data()
{
    QTest::addColumn<QJsonObject>("voidResponse"); // empty: the shipped mapping (200)
    QTest::addColumn<bool>("voidWorks");
    QTest::addColumn<QString>("answer");
    QTest::newRow("void answers") << QJsonObject() << true << QString();
    QTest::newRow("void answers 404") << QJsonObject{{"status", 404}} << true << "HTTP 404: nothing to reverse";
    QTest::newRow("void keeps failing") << QJsonObject{{"status", 503}} << false << QString();
}

void tst_HttpSteps::unansweredCallIsReversedFirst()
{
    QFETCH(QJsonObject, voidResponse);
    QFETCH(bool, voidWorks);
    QFETCH(QString, answer);
    m_admin->failAlways("/payments/authorizations",
                        QJsonObject{{"status", 201}, {"fixedDelayMilliseconds", 2500},
                                    {"jsonBody", QJsonObject{{"authorizationId", "AUTH-LATE"}}}});
    if (!voidResponse.isEmpty())
        m_admin->failAlways("/payments/authorizations/[^/]+/void", voidResponse);
    EngineConfig c = config();
    c.stepRetries = 1;
    c.compensationBudgetMs = 1500;
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    QCOMPARE_ENUM(p.overallStatus, voidWorks ? OverallStatus::RolledBack : OverallStatus::Failed);
    QCOMPARE(p.compensationIncomplete, !voidWorks);
    QCOMPARE(p.step(SagaStep::Payment).errorCode, QStringLiteral("STEP_TIMEOUT"));
    QCOMPARE_ENUM(p.step(SagaStep::Inventory).status, StepStatus::Compensated);

    // Reverse order at the services: every void attempt before the release.
    const QStringList seen = paths();
    const int release = int(seen.indexOf(QStringLiteral("inventory release")));
    const int lastVoid = int(seen.lastIndexOf(QStringLiteral("payments void")));
    QVERIFY2(release >= 0 && lastVoid >= 0 && lastVoid < release, qPrintable(seen.join(", ")));
    if (!voidWorks)
        QVERIFY2(seen.count(QStringLiteral("payments void")) > 1, qPrintable(seen.join(", "))); // retried
    // Recorded: the step's failure owes the reversal, the rollback says what came of it.
    OrderEvent failed, rollback;
    for (const OrderEvent &e : h.eventsOf(id)) {
        if (e.type == EventType::StepFailed && e.step == SagaStep::Payment)
            failed = e;
        if (e.type == EventType::CompensationStarted && !e.step)
            rollback = e;
    }
    QVERIFY(failed.details.value("reversalOwed").toBool());
    QCOMPARE(rollback.details.value("uncertainStep").toString(), QStringLiteral("Payment Processing"));
    QCOMPARE(rollback.details.value("uncertainStepReversed").toBool(), voidWorks);
    QCOMPARE(rollback.details.value("uncertainStepAnswer").toString(), answer);
    // How many void calls, and what the service answered last: on record, in the
    // saga's failure and in the history (they were in the log only).
    // (An attempt is the engine's: the client's own retries of a 503 are inside one.)
    const int voids = int(seen.count(QStringLiteral("payments void")));
    const int attempts = rollback.details.value("uncertainStepAttempts").toInt();
    if (voidWorks)
        QCOMPARE(attempts, 1);
    else
        QVERIFY2(attempts >= 2 && attempts <= voids, qPrintable(QStringLiteral("%1 of %2").arg(attempts).arg(voids)));
    const QJsonObject last = rollback.details.value("uncertainStepFailure").toObject();
    QCOMPARE(last.isEmpty(), voidWorks);
    const OrderEvent end = h.eventsOf(id).last();
    QCOMPARE_ENUM(end.type, EventType::SagaFailed);
    if (!voidWorks) {
        QVERIFY2(!last.value("message").toString().isEmpty(), qPrintable(QJsonDocument(last).toJson()));
        QCOMPARE(end.error.message, QStringLiteral("compensation incomplete: ") + last.value("message").toString());
    }
    const OrderHistory history = HistoryBuilder::build(h.eventsOf(id));
    QStringList titles;
    for (const TimelineEntry &t : history.timeline)
        titles << t.title;
    const QString title = voidWorks ? QStringLiteral("Payment Voided") : QStringLiteral("Payment Void Failed");
    QVERIFY2(titles.contains(title) && titles.indexOf(title) < titles.indexOf(QStringLiteral("Inventory Released")),
             qPrintable(titles.join(", ")));
    QCOMPARE(checkAllFold(h.events), QString());
}

// A payment service that authorizes another amount than the order's total does not
// complete the step: {"authorizationId": "A9", "amountInCents": 99999999} for a 7499
// order completed it, and the order, charged 99999999. The step fails
// PAYMENT_AMOUNT_MISMATCH naming both amounts; the authorization exists, so it is
// voided first (the id it answered), then the inventory released: ROLLED_BACK,
// retryable. An amount that is not a whole number of cents (1e20, -500, 12.75, text,
// an object) is no match either; the total as a number or its decimal text, or no
// amount at all, completes the order with the total charged.
void tst_HttpSteps::chargedAmountIsChecked_data()
{
    QTest::addColumn<QJsonValue>("amount"); // Undefined: not in the answer
    QTest::addColumn<QString>("said");      // as the failure names it; empty: the order completes
    const qint64 total = 2 * 1250 + 4999; // sampleOrder()
    QTest::newRow("as asked") << QJsonValue(double(total)) << QString();
    QTest::newRow("as asked, as text") << QJsonValue(QStringLiteral("7499")) << QString();
    QTest::newRow("no amount") << QJsonValue(QJsonValue::Undefined) << QString();
    QTest::newRow("null") << QJsonValue(QJsonValue::Null) << QString();
    QTest::newRow("far more") << QJsonValue(99999999) << "99999999";
    QTest::newRow("less") << QJsonValue(6000) << "6000";
    QTest::newRow("beyond 2^53") << QJsonValue(1e20) << "1e+20";
    QTest::newRow("negative") << QJsonValue(-500) << "-500";
    QTest::newRow("fractional") << QJsonValue(7499.5) << "7499.5";
    QTest::newRow("other text") << QJsonValue(QStringLiteral("74.99 USD")) << "\"74.99 USD\"";
    QTest::newRow("an object") << QJsonValue(QJsonObject{{"value", 7499}}) << "\"{\"value\":7499}\"";
}

void tst_HttpSteps::chargedAmountIsChecked()
{
    QFETCH(QJsonValue, amount);
    QFETCH(QString, said);
    const qint64 total = 2 * 1250 + 4999;
    QJsonObject answer{{"authorizationId", "AUTH-AMOUNT"}};
    if (!amount.isUndefined())
        answer.insert("amountInCents", amount);
    m_admin->failAlways("/payments/authorizations", QJsonObject{{"status", 201}, {"jsonBody", answer}});
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id));
    const OrderProgress p = h.progress(id);
    if (said.isEmpty()) {
        QCOMPARE_ENUM(p.overallStatus, OverallStatus::Completed);
        QCOMPARE(p.totalChargedInCents, total);
        QCOMPARE(h.eventsOf(id).last().details.value("totalChargedInCents").toInteger(-1), total);
        QVERIFY(!paths().contains("payments void"));
        return;
    }
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::RolledBack);
    QVERIFY(!p.compensationIncomplete);
    QCOMPARE(p.failure.code, QStringLiteral("PAYMENT_AMOUNT_MISMATCH"));
    QCOMPARE(p.failure.message,
             QStringLiteral("The payment service authorized %1 cents instead of the order's total of 7499 cents; the "
                            "authorization is voided.")
                 .arg(said));
    QVERIFY(p.totalChargedInCents != qint64(99999999));
    // The authorization it answered is voided, before the inventory is released; no shipment.
    QCOMPARE(requestsTo("/payments/authorizations/AUTH-AMOUNT/void").size(), 1);
    QCOMPARE(paths(), (QStringList{"inventory reservations", "payments authorizations", "payments void",
                                   "inventory release"}));
    OrderEvent failed, rollback;
    for (const OrderEvent &e : h.eventsOf(id)) {
        QVERIFY(e.type != EventType::SagaCompleted);
        QVERIFY(!(e.type == EventType::StepCompleted && e.step == SagaStep::Payment));
        if (e.type == EventType::StepFailed && e.step == SagaStep::Payment)
            failed = e;
        if (e.type == EventType::CompensationStarted && !e.step)
            rollback = e;
    }
    QVERIFY(failed.details.value("reversalOwed").toBool());
    QCOMPARE(failed.details.value("answered").toObject().value("authorizationId").toString(), QStringLiteral("AUTH-AMOUNT"));
    QVERIFY(failed.details.value("retryable").toBool());
    QCOMPARE(rollback.details.value("uncertainStepReversed").toBool(), true);
    // Nothing stays charged: the customer may retry (SAGA-004), and the retry is checked again.
    QVERIFY(h.eligibility(id).eligible);
    QCOMPARE(checkAllFold(h.events), QString());
}

void tst_HttpSteps::businessRejectionNotRetried()
{
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid id = h.submit(sampleOrder("w", "declined-card"));
    QVERIFY(h.waitTerminal(id));
    int payments = 0;
    for (const auto &s : m_admin->journal())
        payments += s.path == QLatin1String("/payments/authorizations") ? 1 : 0;
    QCOMPARE(payments, 1);
    bool retryable = false;
    for (const OrderEvent &e : h.eventsOf(id)) {
        if (e.type == EventType::StepFailed)
            retryable = e.details.value("retryable").toBool();
    }
    QVERIFY(retryable); // PAYMENT_DECLINED may be retried by the customer (SAGA-004)
}

// A compensation answered 404 (never made) or 410 (gone) has nothing to reverse:
// it counts as done, and the answer is on record (STEP_COMPENSATED details.answer).
// Any other 4xx is no reversal: 409 ALREADY_CAPTURED (the authorization was captured
// and cannot be voided) counted as done, so the order read ROLLED_BACK and the history
// said everything was reversed while the customer stayed charged, with nothing on
// record. It is a failed compensation now: retried within the budget, then the saga
// ends FAILED with "compensation incomplete: <the service's message>".
void tst_HttpSteps::compensationAnswers_data()
{
    QTest::addColumn<QJsonObject>("response");
    QTest::addColumn<QString>("answer");  // recorded on the void's STEP_COMPENSATED
    QTest::addColumn<QString>("failure"); // or the saga's failure
    QTest::newRow("404: never made")
        << QJsonObject{{"status", 404}, {"jsonBody", QJsonObject{{"error", "NOT_FOUND"}, {"message", "No such authorization"}}}}
        << "HTTP 404: nothing to reverse (NOT_FOUND: No such authorization)" << QString();
    QTest::newRow("410: gone, no body") << QJsonObject{{"status", 410}} << "HTTP 410: nothing to reverse" << QString();
    QTest::newRow("409: already captured")
        << QJsonObject{{"status", 409},
                       {"jsonBody", QJsonObject{{"error", "ALREADY_CAPTURED"},
                                                {"message", "The authorization was already captured and cannot be voided."}}}}
        << QString() << "compensation incomplete: The authorization was already captured and cannot be voided.";
    QTest::newRow("422 without a message")
        << QJsonObject{{"status", 422}, {"jsonBody", QJsonObject{{"error", "NOT_VOIDABLE"}}}} << QString()
        << "compensation incomplete: The step service rejected the request (HTTP 422).";
}

void tst_HttpSteps::compensationAnswers()
{
    QFETCH(QJsonObject, response);
    QFETCH(QString, answer);
    QFETCH(QString, failure);
    m_admin->failAlways("/payments/authorizations/[^/]+/void", response);
    EngineConfig c = config();
    c.compensationBudgetMs = 1500;
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder("w", "visa", "00000")); // the shipment fails: void, release
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    const int voids = int(requestsTo("/payments/authorizations/AUTH-WM-0001/void").size());
    OrderEvent voided;
    for (const OrderEvent &e : h.eventsOf(id)) {
        if (e.step == SagaStep::Payment && (e.type == EventType::StepCompensated || e.type == EventType::StepFailed))
            voided = e;
    }
    const OrderHistory history = HistoryBuilder::build(h.eventsOf(id));
    if (failure.isEmpty()) {
        QCOMPARE_ENUM(p.overallStatus, OverallStatus::RolledBack);
        QCOMPARE_ENUM(voided.type, EventType::StepCompensated);
        QCOMPARE(voided.details.value("answer").toString(), answer);
        QCOMPARE(voids, 1);
    } else {
        QCOMPARE_ENUM(p.overallStatus, OverallStatus::Failed);
        QVERIFY(p.compensationIncomplete);
        QCOMPARE_ENUM(voided.type, EventType::StepFailed);
        QCOMPARE(voided.details.value("phase").toString(), QStringLiteral("COMPENSATION"));
        QCOMPARE(voided.error.message, failure);
        bool said = false; // the history's line for it, with the service's words
        for (const TimelineEntry &t : history.timeline) {
            if (t.title == QLatin1String("Payment Void Failed"))
                said = t.error && t.error->message == failure;
        }
        QVERIFY(said);
        QVERIFY2(voids > 1, qPrintable(QString::number(voids))); // retried within the budget
        QVERIFY(!h.eligibility(id).eligible);
        QVERIFY(!history.timeline.last().description.contains("reversed"));
        QCOMPARE(history.timeline.last().description,
                 QStringLiteral("We could not complete your order and could not reverse every step. Customer support will "
                                "contact you."));
    }
    QCOMPARE_ENUM(p.step(SagaStep::Inventory).status, StepStatus::Compensated); // the earlier step either way
    QCOMPARE(checkAllFold(h.events), QString());
}

void tst_HttpSteps::keysPerExecutionStepAction()
{
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid a = h.submit(sampleOrder("w", "visa", "00000"));
    const QUuid b = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(a));
    QVERIFY(h.waitTerminal(b));
    const QMap<QString, int> counts = m_admin->countByKey();
    QCOMPARE(counts.size(), 3 + 2 + 3); // a: 3 forward + 2 compensations; b: 3 forward
    for (auto it = counts.begin(); it != counts.end(); ++it)
        QCOMPARE(it.value(), 1);
}

// A step service answers with text PostgreSQL cannot hold (U+0000) and with far
// more of it than anyone reads. The saga still ends, rolled back, on PostgreSQL:
// what the service said is kept, cleaned and bounded (its ids are kept whole or
// refused: idsAreNeverShortened).
void tst_HttpSteps::serviceTextIsBoundedAndStorable()
{
    const QString nul(QChar(0));
    const QString reservationId = QStringLiteral("res %1/\u00e9").arg(QString(200, 'r'));
    m_admin->failAlways("/inventory/reservations",
                        QJsonObject{{"status", 201},
                                    {"jsonBody", QJsonObject{{"reservationId", reservationId},
                                                             {"amountInCents", QJsonObject{{"deep", "object"}}}}}});
    m_admin->failAlways("/payments/authorizations",
                        QJsonObject{{"status", 402},
                                    {"jsonBody", QJsonObject{{"error", "CARD" + nul + "DECLINED" + QString(100, 'X')},
                                                             {"message", "bad" + nul + "card " + QString(5000, 'm')}}}});
    QString error;
    const QString pg = TestServices::newPostgresDatabase(&error);
    QVERIFY2(!pg.isEmpty(), qPrintable(error));
    EngineConfig c = config();
    c.database = *DatabaseUrl::parse(pg, &error);
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id));
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::RolledBack);

    const QString replacement(QChar::ReplacementCharacter);
    bool sawResult = false;
    bool sawFailure = false;
    for (const OrderEvent &e : h.eventsOf(id)) { // read back from PostgreSQL
        if (e.type == EventType::StepCompleted && e.step == SagaStep::Inventory) {
            QCOMPARE(e.details.value("reservationId").toString(), reservationId);
            QVERIFY(!e.details.contains("amountInCents")); // not a string or a number (nor the inventory's)
            sawResult = true;
        }
        if (e.type == EventType::StepFailed && e.step == SagaStep::Payment) {
            QCOMPARE(e.error.code.size(), 64);
            QVERIFY(e.error.code.startsWith("CARD" + replacement + "DECLINEDXX"));
            QCOMPARE(e.error.message.size(), 1000);
            QVERIFY(e.error.message.startsWith("bad" + replacement + "card mmm"));
            sawFailure = true;
        }
    }
    QVERIFY(sawResult);
    QVERIFY(sawFailure);
    // The release went to the reservation's id (percent-encoded in the path; the
    // journal's paths are decoded).
    QCOMPARE(requestsTo("/inventory/reservations/" + reservationId + "/release").size(), 1);
}

// Answers that say nothing of what was done are not taken as done: retried with the
// same key, then the step fails as unavailable, naming why; the call may have taken
// effect, so it is reversed by key, and the earlier step is compensated. An order is
// never confirmed without its shipment, nor charged without an authorization.
//  - over 1 MiB: cut off as it arrives (not read into memory whole);
//  - a 2xx without the step's id: a proxy's page, JSON without it, an empty body, a
//    dot-segment ('..': the void would go to /payments/authorizations/void);
//  - a redirect: not followed (Qt would re-send the POST as a bodiless GET there),
//    and its target (an internal address) is in the log only, never in what is
//    recorded: "a redirect to http://evil.example:9/x" reached the order's owner.
void tst_HttpSteps::answerThatSaysNothingIsNotTakenAsDone_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<QJsonObject>("response");
    QTest::addColumn<QString>("says");
    QTest::addColumn<QString>("reversal");
    QTest::addColumn<QString>("compensated");
    QTest::addColumn<OverallStatus>("ends");
    QTest::newRow("payment: 2 MiB")
        << "/payments/authorizations"
        << QJsonObject{{"status", 201},
                       {"headers", QJsonObject{{"Content-Type", "application/json"}}},
                       {"body", QString(2 * 1024 * 1024, QLatin1Char('x'))}}
        << "more than 1024 KiB" << "payments void" << "inventory release" << OverallStatus::RolledBack;
    QTest::newRow("payment: a proxy's page")
        << "/payments/authorizations"
        << QJsonObject{{"status", 200},
                       {"headers", QJsonObject{{"Content-Type", "text/html"}}},
                       {"body", "<html><body>Gateway says hello</body></html>"}}
        << "HTTP 200 with no authorizationId" << "payments void" << "inventory release" << OverallStatus::RolledBack;
    QTest::newRow("shipping: JSON without shipmentId")
        << "/shipping/shipments"
        << QJsonObject{{"status", 201}, {"jsonBody", QJsonObject{{"trackingNumber", "TRK-1"}, {"shipmentId", "  "}}}}
        << "HTTP 201 with no shipmentId" << "shipping cancel" << "payments void" << OverallStatus::RolledBack;
    QTest::newRow("payment: '..' as the id")
        << "/payments/authorizations"
        << QJsonObject{{"status", 201}, {"jsonBody", QJsonObject{{"authorizationId", ".."}}}}
        << "HTTP 201 with no authorizationId" << "payments void" << "inventory release" << OverallStatus::RolledBack;
    // The first step: nothing before it to compensate, so the saga ends FAILED.
    QTest::newRow("inventory: empty 204") << "/inventory/reservations" << QJsonObject{{"status", 204}}
                                          << "HTTP 204 with no reservationId" << "inventory release" << QString()
                                          << OverallStatus::Failed;
    QTest::newRow("payment: a redirect")
        << "/payments/authorizations"
        << QJsonObject{{"status", 302}, {"headers", QJsonObject{{"Location", "/payments/moved"}}}}
        << "HTTP 302, a redirect, not followed" << "payments void" << "inventory release" << OverallStatus::RolledBack;
    QTest::newRow("payment: a redirect elsewhere")
        << "/payments/authorizations"
        << QJsonObject{{"status", 307}, {"headers", QJsonObject{{"Location", "http://evil.example:9/x"}}}}
        << "HTTP 307, a redirect, not followed" << "payments void" << "inventory release" << OverallStatus::RolledBack;
}

void tst_HttpSteps::answerThatSaysNothingIsNotTakenAsDone()
{
    QFETCH(QString, path);
    QFETCH(QJsonObject, response);
    QFETCH(QString, says);
    QFETCH(QString, reversal);
    QFETCH(QString, compensated);
    QFETCH(OverallStatus, ends);
    m_admin->failAlways(path, response);
    EngineConfig c = config();
    c.stepRetries = 1;
    const QString location = response.value("headers").toObject().value("Location").toString();
    if (!location.isEmpty()) // said in the log, as a warning (a forward call's failure)
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("failed after 2 attempts: .*a redirect, not "
                                                                             "followed \\(to %1\\)")
                                                                  .arg(QRegularExpression::escape(location))));
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(!id.isNull());
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    QCOMPARE_ENUM(p.overallStatus, ends);
    QCOMPARE(p.failure.code, QStringLiteral("SERVICE_UNAVAILABLE"));
    QVERIFY2(p.failure.message.contains(says), qPrintable(p.failure.message));
    if (!location.isEmpty()) { // nowhere on record: events, their details, the history
        for (const OrderEvent &e : h.eventsOf(id)) {
            QVERIFY2(!e.error.message.contains(location), qPrintable(e.error.message));
            QVERIFY(!QJsonDocument(e.details).toJson().contains(location.toUtf8()));
        }
        for (const TimelineEntry &t : HistoryBuilder::build(h.eventsOf(id)).timeline)
            QVERIFY2(!(t.description + (t.error ? t.error->message : QString())).contains(location), qPrintable(t.description));
    }
    const QVector<WireMockAdmin::Seen> calls = requestsTo(path);
    QCOMPARE(calls.size(), 2); // the call and its one retry, POSTs with the same key
    QCOMPARE(calls[0].key, calls[1].key);
    for (const WireMockAdmin::Seen &call : calls)
        QCOMPARE(call.method, QStringLiteral("POST"));
    QVERIFY(requestsTo("/payments/moved").isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(paths().contains(reversal), 10000);
    if (!compensated.isEmpty())
        QVERIFY(paths().contains(compensated));
    QVERIFY(!paths().contains("shipping shipments") || path == QLatin1String("/shipping/shipments"));
    QCOMPARE(checkAllFold(h.events), QString());
}

// A service whose ids are numbers ({"reservationId": 4711}): the step is done,
// and the compensation reverses that id (not the idempotency-key fallback).
void tst_HttpSteps::numericIdsAreKeptAsIds()
{
    m_admin->failAlways("/inventory/reservations",
                        QJsonObject{{"status", 201}, {"jsonBody", QJsonObject{{"reservationId", 4711}}}});
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid id = h.submit(sampleOrder("widget-1", "declined-card"));
    QVERIFY(!id.isNull());
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::RolledBack);
    QCOMPARE(p.failure.code, QStringLiteral("PAYMENT_DECLINED"));
    QCOMPARE(h.eventsOf(id)[2].details.value("reservationId").toString(), QStringLiteral("4711"));
    QVERIFY(!requestsTo("/inventory/reservations/4711/release").isEmpty());
    QCOMPARE(checkAllFold(h.events), QString());
}

// One endpoint that hangs (payments, for one card) holds up only its own calls.
// Every step call went through one QNetworkAccessManager, whose six connections per
// host the hanging payments took; the other calls waited in Qt's queue with their
// timeout running, so the order that was not paying with that card failed ("did not
// answer in time") and hanging orders' calls timed out without being sent. Calls now
// go out on a lane per step and action, at most six at once (more wait in the lane's
// queue, untimed), so a request is timed from when it is sent.
void tst_HttpSteps::slowEndpointHoldsUpOnlyItsOwnCalls()
{
    m_admin->call("POST", QStringLiteral("/__admin/mappings"),
                  QJsonObject{{"priority", 0},
                              {"request", QJsonObject{{"method", "POST"},
                                                      {"urlPath", "/payments/authorizations"},
                                                      {"bodyPatterns", QJsonArray{QJsonObject{
                                                                           {"matchesJsonPath", "$[?(@.paymentMethodId == 'hang-card')]"}}}}}},
                              {"response", QJsonObject{{"status", 201},
                                                       {"fixedDelayMilliseconds", 30000},
                                                       {"jsonBody", QJsonObject{{"authorizationId", "AUTH-LATE"}}}}}});
    EngineConfig c = config();
    c.stepTimeoutMs = 1000;
    c.stepRetries = 1;
    EngineHarness h;
    QVERIFY(start(h, c));
    // Eighteen orders whose payment hangs, one order amid them that pays normally.
    QVector<QUuid> hanging;
    QUuid normal;
    for (int i = 0; i < 19; ++i) {
        const QUuid id = h.submit(sampleOrder("widget-1", i == 9 ? "visa" : "hang-card"));
        QVERIFY(!id.isNull());
        if (i == 9)
            normal = id;
        else
            hanging << id;
    }
    QVERIFY(h.waitTerminal(normal, 60000));
    for (const QUuid &id : hanging)
        QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(normal);
    QVERIFY2(p.overallStatus == OverallStatus::Completed, qPrintable(p.failure.code + ": " + p.failure.message));
    for (const QUuid &id : hanging) {
        const OrderProgress q = h.progress(id);
        QCOMPARE_ENUM(q.step(SagaStep::Inventory).status, StepStatus::Compensated);
        QCOMPARE(q.step(SagaStep::Payment).errorCode, QStringLiteral("STEP_TIMEOUT"));
    }
    // Every call was sent before it was timed: each hanging authorization reached the
    // service twice (the call and its retry), every reservation once.
    const QMap<QString, int> counts = m_admin->countByKey();
    int authorizations = 0;
    int reservations = 0;
    for (auto it = counts.begin(); it != counts.end(); ++it) {
        if (it.key().endsWith(":payment:authorize")) {
            ++authorizations;
            QVERIFY2(it.value() == 2 || it.value() == 1, qPrintable(it.key()));
        } else if (it.key().endsWith(":inventory:reserve")) {
            ++reservations;
            QCOMPARE(it.value(), 1);
        }
    }
    QCOMPARE(reservations, 19);
    QCOMPARE(authorizations, 19);
    int hangingAttempts = 0;
    for (const WireMockAdmin::Seen &s : requestsTo("/payments/authorizations"))
        hangingAttempts += s.body.value("paymentMethodId").toString() == QLatin1String("hang-card") ? 1 : 0;
    QCOMPARE(hangingAttempts, 18 * 2);
    QCOMPARE(checkAllFold(h.events), QString());
}

// The step service is down (connection refused): the call never reached it, so it
// did nothing and there is nothing to reverse. The step fails (retryable), nothing
// else is called. It used to count as "may have taken effect": its reversal, refused
// too, was retried for the whole compensation budget and the order ended "compensation
// incomplete, contact support", not retryable.
void tst_HttpSteps::unreachableServiceHasNothingToReverse()
{
    EngineConfig c = config();
    c.stepsBaseUrl = refusingUrl();
    QVERIFY(!c.stepsBaseUrl.isEmpty());
    c.stepRetries = 1;
    c.compensationBudgetMs = 1500;
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(!id.isNull());
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::Failed);
    QVERIFY(!p.compensationIncomplete);
    QCOMPARE(p.failure.code, QStringLiteral("SERVICE_UNAVAILABLE"));
    QVERIFY2(p.failure.message.contains("not sent"), qPrintable(p.failure.message));
    QCOMPARE(requestsSummary(h.recorder, id), QStringList{"Inventory+"}); // no reversal
    for (const OrderEvent &e : h.eventsOf(id)) {
        if (e.type == EventType::StepFailed)
            QVERIFY(!e.details.contains("reversalOwed"));
    }
    QVERIFY(h.eligibility(id).eligible);
    QCOMPARE(checkAllFold(h.events), QString());
}

// A step found in progress when a saga is taken over may have been called by the
// engine before: a call of it now that is refused does not prove that nothing was
// done, so it is still reversed.
void tst_HttpSteps::resumedCallNotSentIsStillReversed()
{
    m_admin->failAlways("/payments/authorizations",
                        QJsonObject{{"status", 201}, {"fixedDelayMilliseconds", 30000},
                                    {"jsonBody", QJsonObject{{"authorizationId", "AUTH-LATE"}}}});
    EngineConfig first = config();
    first.stepTimeoutMs = 20000;
    auto a = std::make_unique<EngineHarness>();
    QVERIFY(start(*a, first));
    const QUuid id = a->submit(sampleOrder());
    QVERIFY(!id.isNull());
    // The payment call reached the service, which has not answered yet.
    QTRY_VERIFY_WITH_TIMEOUT(!requestsTo("/payments/authorizations").isEmpty(), 10000);
    QVector<OrderEvent> events = a->events;
    a.reset(); // stops, releasing its lease

    EngineConfig second = first;
    second.stepsBaseUrl = refusingUrl();
    second.stepTimeoutMs = 700;
    second.stepRetries = 0;
    second.compensationBudgetMs = 1000;
    EngineHarness b;
    QVERIFY(start(b, second));
    QVERIFY(QTest::qWaitFor([&] { return fold(id, events + b.events).isTerminal(); }, 60000));
    events += b.events;
    const OrderProgress p = fold(id, events);
    QCOMPARE(p.step(SagaStep::Payment).errorCode, QStringLiteral("SERVICE_UNAVAILABLE"));
    bool owed = false;
    for (const OrderEvent &e : events) {
        if (e.orderId == id && e.type == EventType::StepFailed && e.step == SagaStep::Payment)
            owed = e.details.value("reversalOwed").toBool();
    }
    QVERIFY(owed);
    QVERIFY(requestsSummary(b.recorder, id).contains("Payment-")); // the void was tried (refused)
    QVERIFY(p.compensationIncomplete);
}

// Each step keeps only its own result keys, and a step's id comes only from that
// step's answer: an inventory answer naming an authorizationId (another order's) is
// not what the payment's reversal voids, and a payment answer naming a reservationId
// is not the reservation the shipment is for.
void tst_HttpSteps::stepKeepsOnlyItsOwnResult()
{
    m_admin->failAlways("/inventory/reservations",
                        QJsonObject{{"status", 201},
                                    {"jsonBody", QJsonObject{{"reservationId", "RES-1"},
                                                             {"authorizationId", "AUTH-OF-ANOTHER-ORDER"},
                                                             {"shipmentId", "SHIP-OF-ANOTHER-ORDER"}}}});
    m_admin->failAlways("/payments/authorizations", QJsonObject{{"fault", "CONNECTION_RESET_BY_PEER"}});
    EngineConfig c = config();
    c.stepRetries = 0;
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id, 60000));
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::RolledBack);
    const QString executionId = h.eventsOf(id).first().details.value("executionId").toString();
    QVERIFY(!executionId.isEmpty());
    // The unanswered authorization is voided by its own key, the reservation released.
    QCOMPARE(requestsTo("/payments/authorizations/" + executionId + ":payment:authorize/void").size(), 1);
    QCOMPARE(requestsTo("/inventory/reservations/RES-1/release").size(), 1);
    for (const QString &path : paths())
        QVERIFY2(!path.contains("ANOTHER"), qPrintable(path));
    for (const OrderEvent &e : h.eventsOf(id)) {
        if (e.type == EventType::StepCompleted && e.step == SagaStep::Inventory)
            QCOMPARE(e.details.keys(), QStringList{"reservationId"});
    }

    // The shipment is for the inventory's reservation, whatever the payment answered.
    QString error;
    QVERIFY2(TestServices::resetWireMock(&error), qPrintable(error));
    m_admin->failAlways("/payments/authorizations",
                        QJsonObject{{"status", 201},
                                    {"jsonBody", QJsonObject{{"authorizationId", "AUTH-1"},
                                                             {"reservationId", "RES-OF-ANOTHER-ORDER"},
                                                             {"estimatedDelivery", "1999-01-01"}}}});
    const QUuid second = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(second, 60000));
    QCOMPARE_ENUM(h.progress(second).overallStatus, OverallStatus::Completed);
    const QVector<WireMockAdmin::Seen> shipments = requestsTo("/shipping/shipments");
    QCOMPARE(shipments.size(), 1);
    QCOMPARE(shipments[0].body.value("reservationId").toString(), QStringLiteral("RES-WM-0001"));
    QCOMPARE(h.eventsOf(second).last().details.value("estimatedDelivery").toString(), QStringLiteral("2030-01-15"));
    QCOMPARE(checkAllFold(h.events), QString());
}

// An id (or value) that cannot be kept whole, over 256 characters or with text no
// store keeps, is a bad answer like one without the id: never stored shortened. It
// used to be cut to 256 characters; the release then went to an id that does not
// exist, whose 404 counted as "released".
void tst_HttpSteps::idsAreNeverShortened_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("says");
    QTest::newRow("reservationId of 257 characters")
        << "/inventory/reservations" << "reservationId" << QString(257, 'r') << "reservationId of more than 256 characters";
    QTest::newRow("authorizationId of 4,000 characters")
        << "/payments/authorizations" << "authorizationId" << QString(4000, 'a') << "authorizationId of more than 256 characters";
    QTest::newRow("reservationId with U+0000")
        << "/inventory/reservations" << "reservationId" << QStringLiteral("RES-") + QChar(0) + QStringLiteral("1")
        << "reservationId holding U+0000";
    QTest::newRow("trackingNumber of 300 characters")
        << "/shipping/shipments" << "trackingNumber" << QString(300, 't') << "trackingNumber of more than 256 characters";
    QTest::newRow("256 characters are kept") << "/inventory/reservations" << "reservationId" << QString(256, 'k') << QString();
}

void tst_HttpSteps::idsAreNeverShortened()
{
    QFETCH(QString, path);
    QFETCH(QString, key);
    QFETCH(QString, value);
    QFETCH(QString, says);
    QJsonObject answer{{"reservationId", "RES-1"}, {"authorizationId", "AUTH-1"}, {"shipmentId", "SHIP-1"}};
    answer.insert(key, value);
    m_admin->failAlways(path, QJsonObject{{"status", 201}, {"jsonBody", answer}});
    EngineConfig c = config();
    c.stepRetries = 1;
    EngineHarness h;
    QVERIFY(start(h, c));
    // Declined at the payment: the inventory is released (by its id, when it has one).
    const bool shipping = path == QLatin1String("/shipping/shipments");
    const QUuid id = h.submit(sampleOrder("widget-1", shipping ? "visa" : "declined-card"));
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    for (const OrderEvent &e : h.eventsOf(id)) { // nothing of it stored changed
        for (auto it = e.details.begin(); it != e.details.end(); ++it) {
            const QString text = it.value().toString();
            QVERIFY2(text == value || !(text.size() > 8 && value.startsWith(text)), qPrintable(it.key() + " stored shortened"));
            QVERIFY2(!text.contains(QChar::ReplacementCharacter), qPrintable(it.key() + " stored cleaned"));
        }
    }
    if (says.isEmpty()) {
        QCOMPARE(p.failure.code, QStringLiteral("PAYMENT_DECLINED"));
        QCOMPARE(h.eventsOf(id)[2].details.value(key).toString(), value);
        QCOMPARE(requestsTo("/inventory/reservations/" + value + "/release").size(), 1);
        return;
    }
    QCOMPARE(p.failure.code, QStringLiteral("SERVICE_UNAVAILABLE"));
    QVERIFY2(p.failure.message.contains(says), qPrintable(p.failure.message));
    const QVector<WireMockAdmin::Seen> calls = requestsTo(path);
    QCOMPARE(calls.size(), 2); // the call and its retry
    // Reversed by the forward call's key, never by a shortened id.
    const QString step = calls[0].key.section(QLatin1Char(':'), -2, -2);
    const QString reverse = path + QLatin1Char('/') + calls[0].key
        + (step == QLatin1String("inventory") ? "/release" : step == QLatin1String("payment") ? "/void" : "/cancel");
    QTRY_COMPARE_WITH_TIMEOUT(requestsTo(reverse).size(), 1, 10000);
    QCOMPARE(checkAllFold(h.events), QString());
}

// A business rejection cannot pass for one of the engine's own conditions: a 422
// saying COMPENSATION_FAILED made a rolled-back order "non-retryable, support
// notified"; STEP_TIMEOUT or SERVICE_UNAVAILABLE made the engine reverse a call the
// service had just refused. Such a code becomes STEP_REJECTED, the service's code
// kept in the message; the documented business codes and other codes pass as sent.
void tst_HttpSteps::serviceCannotAnswerWithEngineCodes_data()
{
    QTest::addColumn<QString>("serviceCode");
    QTest::addColumn<QString>("code");
    QTest::newRow("COMPENSATION_FAILED") << "COMPENSATION_FAILED" << "STEP_REJECTED";
    QTest::newRow("STEP_TIMEOUT") << "STEP_TIMEOUT" << "STEP_REJECTED";
    QTest::newRow("SERVICE_UNAVAILABLE") << "SERVICE_UNAVAILABLE" << "STEP_REJECTED";
    QTest::newRow("store_refused") << "store_refused" << "STEP_REJECTED";
    QTest::newRow("PAYMENT_AMOUNT_MISMATCH") << "PAYMENT_AMOUNT_MISMATCH" << "STEP_REJECTED";
    QTest::newRow("a business code") << "PAYMENT_DECLINED" << "PAYMENT_DECLINED";
    QTest::newRow("a code of its own") << "CARD_EXPIRED" << "CARD_EXPIRED";
}

void tst_HttpSteps::serviceCannotAnswerWithEngineCodes()
{
    QFETCH(QString, serviceCode);
    QFETCH(QString, code);
    m_admin->failAlways("/payments/authorizations",
                        QJsonObject{{"status", 422},
                                    {"jsonBody", QJsonObject{{"error", serviceCode}, {"message", "Card refused"}}}});
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::RolledBack);
    QVERIFY(!p.compensationIncomplete);
    QCOMPARE(p.failure.code, code);
    if (code == serviceCode)
        QCOMPARE(p.failure.message, QStringLiteral("Card refused"));
    else
        QCOMPARE(p.failure.message,
                 QStringLiteral("The step service rejected the request (HTTP 422, its code %1): Card refused").arg(serviceCode));
    QCOMPARE(requestsTo("/payments/authorizations").size(), 1);
    QVERIFY(!paths().contains("payments void")); // a refusal is not a call that may have taken effect
    QVERIFY(paths().contains("inventory release"));
    QVERIFY(h.eligibility(id).eligible);
    QCOMPARE(checkAllFold(h.events), QString());
}

// A 2xx whose body broke off (a malformed chunk) is no answer: the void is sent again
// with the same key, not counted as done on its status line.
void tst_HttpSteps::brokenAnswerIsNoCompensation()
{
    m_admin->failFirst("broken", "/payments/authorizations/AUTH-WM-0001/void",
                       QJsonObject{{"status", 200}, {"fault", "MALFORMED_RESPONSE_CHUNK"}});
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid id = h.submit(sampleOrder("widget-1", "visa", "00000")); // the shipment fails
    QVERIFY(h.waitTerminal(id, 60000));
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::RolledBack);
    const QVector<WireMockAdmin::Seen> voids = requestsTo("/payments/authorizations/AUTH-WM-0001/void");
    QCOMPARE(voids.size(), 2);
    QCOMPARE(voids[0].key, voids[1].key);
    QCOMPARE(checkAllFold(h.events), QString());
}

// A void that keeps failing (500 {"error": "BOOM", "message": "void broke"}) is the
// orchestrator's to retry: the client's "step call ... failed after N attempts" was a
// warning on every one of those retries (15 in a minute), before the engine's own
// "gave up". Now the engine's warning is the one line; and the service's words,
// dropped before ("The step service is unavailable (HTTP 500)."), are in the failure.
void tst_HttpSteps::failingCompensationIsWarnedOnce()
{
    m_admin->failAlways("/payments/authorizations/[^/]+/void",
                        QJsonObject{{"status", 500}, {"jsonBody", QJsonObject{{"error", "BOOM"}, {"message", "void broke"}}}});
    EngineConfig c = config();
    c.stepRetries = 1;
    c.compensationBudgetMs = 1500;
    QTest::failOnWarning(QRegularExpression(QStringLiteral("step call .* failed after")));
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("compensation of .*Payment Processing.* gave up "
                                                                         "after [0-9]+ attempts")));
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder("w", "visa", "00000")); // the shipment fails: void, release
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::Failed);
    QVERIFY(p.compensationIncomplete);
    OrderEvent gaveUp;
    for (const OrderEvent &e : h.eventsOf(id)) {
        if (e.type == EventType::StepFailed && e.step == SagaStep::Payment)
            gaveUp = e;
    }
    QCOMPARE(gaveUp.details.value("phase").toString(), QStringLiteral("COMPENSATION"));
    QCOMPARE(gaveUp.error.message,
             QStringLiteral("compensation incomplete: The step service is unavailable (HTTP 500: BOOM: void broke)."));
    // Retried by the engine (each of its calls tried twice by the client).
    const int voids = int(requestsTo("/payments/authorizations/AUTH-WM-0001/void").size());
    QVERIFY2(voids >= 4, qPrintable(QString::number(voids)));
    QCOMPARE(checkAllFold(h.events), QString());
}

// The step timeout is a time without progress: an answer still arriving (a chunk
// every half second, 3 s in all, with a 1.5 s timeout) is read to its end. But one
// that kept dribbling held the call (and one of the lane's six connections) for as
// long as it went on: it is cut off four step timeouts after it was sent.
// (Content-Encoding: identity keeps WireMock from compressing the answer, which holds
// all its bytes back to the end: no progress at all, cut off one timeout after the
// headers. That was the "deadline" a probe saw.)
void tst_HttpSteps::answerStillArrivingIsNotCutOff_data()
{
    QTest::addColumn<int>("chunks");     // one every 500 ms
    QTest::addColumn<bool>("completes");
    QTest::newRow("3 s, a chunk every 0.5 s") << 6 << true;
    QTest::newRow("past the cap of 6 s") << 20 << false;
}

void tst_HttpSteps::answerStillArrivingIsNotCutOff()
{
    QFETCH(int, chunks);
    QFETCH(bool, completes);
    m_admin->failAlways("/payments/authorizations",
                        QJsonObject{{"status", 201},
                                    {"headers", QJsonObject{{"Content-Encoding", "identity"}}},
                                    {"jsonBody", QJsonObject{{"authorizationId", "AUTH-SLOW"}, {"padding", QString(200, 'p')}}},
                                    {"chunkedDribbleDelay", QJsonObject{{"numberOfChunks", chunks}, {"totalDuration", chunks * 500}}}});
    EngineConfig c = config();
    c.stepTimeoutMs = 1500;
    c.stepRetries = 0;
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    QCOMPARE(requestsTo("/payments/authorizations").size(), 1);
    if (completes) {
        QVERIFY2(p.overallStatus == OverallStatus::Completed, qPrintable(p.failure.code + ": " + p.failure.message));
        QCOMPARE_ENUM(p.step(SagaStep::Payment).status, StepStatus::Completed);
        QVERIFY(!paths().contains("payments void"));
    } else {
        QCOMPARE_ENUM(p.overallStatus, OverallStatus::RolledBack);
        QCOMPARE(p.failure.code, QStringLiteral("STEP_TIMEOUT"));
        QTRY_VERIFY_WITH_TIMEOUT(paths().contains("payments void"), 10000);
    }
    QCOMPARE(checkAllFold(h.events), QString());
}

QTEST_GUILESS_MAIN(tst_HttpSteps)
#include "tst_httpsteps.moc"
