// The orchestrator with the HTTP step client against a real WireMock (the
// mappings in resources/wiremock): the failure triggers, compensation endpoints,
// and WireMock's faults (connection reset, empty response, delays past the
// timeout, 5xx, 408 and 429 after their Retry-After) retried with the same
// Idempotency-Key; other 4xx never retried; answers that say nothing of what was
// done (over 1 MiB, a 2xx without the step's id, a redirect) never taken as done.

#include "../../unit/engine/enginetesthelpers.h"
#include "httpstepclient.h"
#include "orderhistory.h"
#include "testservices.h"
#include "wiremockadmin.h"

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
    void compensationNotFoundIsDone_data();
    void compensationNotFoundIsDone();
    void keysPerExecutionStepAction();
    void serviceTextIsBoundedAndStorable();
    void answerThatSaysNothingIsNotTakenAsDone_data();
    void answerThatSaysNothingIsNotTakenAsDone();
    void numericIdsAreKeptAsIds();
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
void tst_HttpSteps::unansweredCallIsReversedFirst_data()
{
    QTest::addColumn<bool>("voidWorks");
    QTest::newRow("void answers") << true;
    QTest::newRow("void keeps failing") << false;
}

void tst_HttpSteps::unansweredCallIsReversedFirst()
{
    QFETCH(bool, voidWorks);
    m_admin->failAlways("/payments/authorizations",
                        QJsonObject{{"status", 201}, {"fixedDelayMilliseconds", 2500},
                                    {"jsonBody", QJsonObject{{"authorizationId", "AUTH-LATE"}}}});
    if (!voidWorks)
        m_admin->failAlways("/payments/authorizations/[^/]+/void", QJsonObject{{"status", 503}});
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

// What the payment service says it authorized is the order's charged total when it
// is a whole number of cents; anything else (negative, fractional, beyond 2^53, text)
// records the order's total instead. 1e20 was recorded as -9223372036854775808 in
// SAGA_COMPLETED (and null in GET /orders), -500 as a charge of -500, 12.75 as 12.
void tst_HttpSteps::chargedAmountIsChecked_data()
{
    QTest::addColumn<QJsonValue>("amount");
    QTest::addColumn<qint64>("charged");
    const qint64 total = 2 * 1250 + 4999; // sampleOrder()
    QTest::newRow("as asked") << QJsonValue(double(total)) << total;
    QTest::newRow("less, whole cents") << QJsonValue(6000) << qint64(6000);
    QTest::newRow("beyond 2^53") << QJsonValue(1e20) << total;
    QTest::newRow("negative") << QJsonValue(-500) << total;
    QTest::newRow("fractional") << QJsonValue(12.75) << total;
    QTest::newRow("text") << QJsonValue(QStringLiteral("7499")) << total;
}

void tst_HttpSteps::chargedAmountIsChecked()
{
    QFETCH(QJsonValue, amount);
    QFETCH(qint64, charged);
    m_admin->failAlways("/payments/authorizations",
                        QJsonObject{{"status", 201},
                                    {"jsonBody", QJsonObject{{"authorizationId", "AUTH-AMOUNT"}, {"amountInCents", amount}}}});
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id));
    const OrderProgress p = h.progress(id);
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::Completed);
    QCOMPARE(p.totalChargedInCents, charged);
    QCOMPARE(h.eventsOf(id).last().details.value("totalChargedInCents").toInteger(-1), charged);
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

// A compensation answered "nothing (more) to reverse" counts as done: 404 (no such
// reservation), 409 (already released), 410 (gone: expired or released for good).
void tst_HttpSteps::compensationNotFoundIsDone_data()
{
    QTest::addColumn<int>("status");
    QTest::newRow("404") << 404;
    QTest::newRow("409") << 409;
    QTest::newRow("410") << 410;
}

void tst_HttpSteps::compensationNotFoundIsDone()
{
    QFETCH(int, status);
    m_admin->failAlways("/inventory/reservations/[^/]+/release",
                        QJsonObject{{"status", status}, {"jsonBody", QJsonObject{{"error", "NOT_FOUND"}}}});
    EngineHarness h;
    QVERIFY(start(h, config()));
    const QUuid id = h.submit(sampleOrder("w", "declined-card"));
    QVERIFY(h.waitTerminal(id));
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::RolledBack);
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
// what the service said is kept, cleaned and bounded.
void tst_HttpSteps::serviceTextIsBoundedAndStorable()
{
    const QString nul(QChar(0));
    m_admin->failAlways("/inventory/reservations",
                        QJsonObject{{"status", 201},
                                    {"jsonBody", QJsonObject{{"reservationId", "res" + nul + QString(1000, 'r')},
                                                             {"trackingNumber", QJsonObject{{"deep", "object"}}}}}});
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
            const QString reservation = e.details.value("reservationId").toString();
            QCOMPARE(reservation.size(), 256);
            QVERIFY(reservation.startsWith("res" + replacement + "rr"));
            QVERIFY(!e.details.contains("trackingNumber")); // not a string or a number
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
    // The release went to the reservation's (cleaned) id, percent-encoded in the path.
    bool released = false;
    for (const auto &seen : m_admin->journal())
        released |= seen.path.startsWith(QLatin1String("/inventory/reservations/res")) && seen.path.endsWith("/release");
    QVERIFY(released);
}

// Answers that say nothing of what was done are not taken as done: retried with the
// same key, then the step fails as unavailable, naming why; the call may have taken
// effect, so it is reversed by key, and the earlier step is compensated. An order is
// never confirmed without its shipment, nor charged without an authorization.
//  - over 1 MiB: cut off as it arrives (not read into memory whole);
//  - a 2xx without the step's id: a proxy's page, JSON without it, an empty body, a
//    dot-segment ('..': the void would go to /payments/authorizations/void);
//  - a redirect: not followed (Qt would re-send the POST as a bodiless GET there).
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
        << "HTTP 302, a redirect to /payments/moved, not followed" << "payments void" << "inventory release"
        << OverallStatus::RolledBack;
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
    EngineHarness h;
    QVERIFY(start(h, c));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(!id.isNull());
    QVERIFY(h.waitTerminal(id, 60000));
    const OrderProgress p = h.progress(id);
    QCOMPARE_ENUM(p.overallStatus, ends);
    QCOMPARE(p.failure.code, QStringLiteral("SERVICE_UNAVAILABLE"));
    QVERIFY2(p.failure.message.contains(says), qPrintable(p.failure.message));
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

QTEST_GUILESS_MAIN(tst_HttpSteps)
#include "tst_httpsteps.moc"
