// Orchestrator with the simulated step client on a SQLite temp file:
// SAGA-001 (happy path, context passing), SAGA-002 (compensation), SAGA-004
// (retry), fault plan, resume after restart. Every emitted event sequence must
// fold with the shared model fold without a rejection.

#include "enginetesthelpers.h"
#include "etaestimator.h"
#include "storerefusal.h"
#include "testservices.h"

#include <QScopeGuard>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTcpServer>
#include <QtTest>

class tst_Orchestrator : public QObject
{
    Q_OBJECT

private:
    EngineConfig config(const QString &name = QString())
    {
        EngineConfig c;
        c.database.kind = DatabaseUrl::Kind::Sqlite;
        c.database.path = TestServices::tempDir() + QLatin1Char('/')
            + (name.isEmpty() ? QUuid::createUuid().toString(QUuid::WithoutBraces) : name) + QStringLiteral(".sqlite");
        c.stepDelayMs = 0;
        c.stepTimeoutMs = 300;
        c.compensationBudgetMs = 600;
        c.retryCooldownSeconds = 0;
        c.leaseSeconds = 30;
        return c;
    }

    // Engine `engineId`, whose step calls never get an answer: its sagas stay mid-step.
    EngineConfig neverAnswered(const QString &engineId)
    {
        EngineConfig c = config();
        c.engineId = engineId;
        c.stepDelayMs = 60000;
        return c;
    }

    // Steps of 300 ms (timeout 5 s), so a saga is caught between its steps.
    EngineConfig slowSteps()
    {
        EngineConfig c = config();
        c.stepDelayMs = 300;
        c.stepTimeoutMs = 5000;
        return c;
    }

    // Starts `h` on `c` with one saga whose first step is out (its STEP_STARTED
    // committed); null (and a warning) when it did not get there.
    static QUuid startWithASagaMidStep(EngineHarness &h, const EngineConfig &c)
    {
        QString error;
        if (!h.start(c, &error)) {
            qWarning("engine did not start: %s", qPrintable(error));
            return {};
        }
        const QUuid id = h.submit(sampleOrder());
        if (id.isNull()
            || !QTest::qWaitFor([&] { return h.typesOf(id).contains(QStringLiteral("STEP_STARTED:Inventory")); }, 10000)) {
            qWarning("the saga did not reach its first step");
            return {};
        }
        return id;
    }

private Q_SLOTS:
    void happyPath();
    void contextPassing();
    void compensation_data();
    void compensation();
    void idempotentCompensation();
    void compensationRetriedThenSucceeds();
    void compensationIncomplete();
    void compensationBudgetCountsFromItsStart();
    void faultPlanOnce();
    void faultPlanProbability();
    void faultPlanTimeoutAndDelay();
    void randomFaultPlansLeaveEverySagaConsistent_data();
    void randomFaultPlansLeaveEverySagaConsistent();
    void manyConcurrentSagasGroupCommit();
    void pipelinedCommitsWriteAheadAndOrder();
    void retryPolicyMatrix_data();
    void retryPolicyMatrix();
    void failureAdviceAgreesWithThePolicy_data();
    void failureAdviceAgreesWithThePolicy();
    void retryWhileTheFailureIsReversedSaysSo();
    void retryWithCorrection();
    void retryRejections();
    void retryMaxAttempts();
    void retryCooldown();
    void retryOneAtATime();
    void retryAskedAsTheEndIsCommitted();
    void callbacksAnsweredExactlyOnce();
    void resumeAfterRestart();
    void sagaWithAnUnknownEventIsLeftToANewerEngine();
    void destroyedWithACommitInFlight();
    void takenOverStepCountsItsResumedAttempt();
    void databaseThatCannotBeOpened();
    void sqliteFilesThatCannotServeAreNamed();
    void databaseFileDeletedPausesTheEngine();
    void orderSubmittedAsTheDatabaseGoesIsRefused();
    void fileReadOnlyAtStartIsUsedOnceWritable();
    void fileReadOnlyAtStartIsSaidAtStart();
    void diskFullPausesSagasUntilSpaceIsFreed();
    void fileDamagedWhileRunningPausesTheEngine_data();
    void fileDamagedWhileRunningPausesTheEngine();
    void storeRefusalEndsTheSagaVisibly();
    void engineHost();
};

void tst_Orchestrator::happyPath()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    QString orderNumber;
    const OrderRequest request = sampleOrder();
    const QUuid id = h.submit(request, &orderNumber);
    QVERIFY(!id.isNull());
    QCOMPARE(uchar(id.toRfc4122().at(6)) >> 4, 7); // time-ordered id (timeorderedid.h)
    QVERIFY(orderNumber.startsWith(QLatin1String("ORD-")));
    QVERIFY(h.waitTerminal(id));
    QCOMPARE(h.typesOf(id),
             QStringList({"SAGA_STARTED", "STEP_STARTED:Inventory", "STEP_COMPLETED:Inventory", "STEP_STARTED:Payment",
                          "STEP_COMPLETED:Payment", "STEP_STARTED:Shipping", "STEP_COMPLETED:Shipping",
                          "SAGA_COMPLETED"}));
    QString rejected;
    const OrderProgress p = h.progress(id, &rejected);
    QVERIFY2(rejected.isEmpty(), qPrintable(rejected));
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::Completed);
    for (SagaStep s : kAllSteps)
        QCOMPARE_ENUM(p.step(s).status, StepStatus::Completed);
    const OrderEvent last = h.eventsOf(id).last();
    QVERIFY(last.details.value("confirmationNumber").toString().startsWith("CNF-"));
    QCOMPARE(qint64(last.details.value("totalChargedInCents").toDouble()), request.totalInCents());
    QVERIFY(!last.details.value("estimatedDelivery").toString().isEmpty());
    const OrderEvent first = h.eventsOf(id).first();
    QCOMPARE(first.details.value("orderNumber").toString(), orderNumber);
    QCOMPARE(first.details.value("attemptNumber").toInt(), 1);
    QCOMPARE(first.details.value("isRetry").toBool(), false);

    // The store agrees: order record, execution, step results.
    auto order = h.orchestrator->store()->loadOrder(id);
    QVERIFY2(order.ok(), qPrintable(order.error.message));
    QCOMPARE_ENUM(order.value.status, OrderRecordStatus::Completed);
    QCOMPARE(order.value.confirmationNumber, last.details.value("confirmationNumber").toString());
    QCOMPARE(order.value.totalChargedInCents, request.totalInCents());
    QCOMPARE(order.value.items.size(), request.items.size());
    auto execs = h.orchestrator->store()->executions(id);
    QVERIFY(execs.ok());
    QCOMPARE(execs.value.size(), 1);
    QCOMPARE_ENUM(execs.value.first().status, OverallStatus::Completed);
    auto stored = h.orchestrator->store()->loadProgress(id);
    QVERIFY(stored.ok());
    QCOMPARE_ENUM(stored.value.overallStatus, OverallStatus::Completed);
    auto storedEvents = h.orchestrator->store()->loadEvents(id);
    QCOMPARE(storedEvents.value.size(), 8);
    QCOMPARE(checkAllFold(h.events), QString());
    QTRY_COMPARE(h.orchestrator->activeSagaCount(), 0);
}

void tst_Orchestrator::contextPassing()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    const QUuid id = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(id));
    QCOMPARE(h.recorder->requests.size(), 3);
    const StepRequest &payment = h.recorder->requests[1];
    const StepRequest &shipping = h.recorder->requests[2];
    QVERIFY(payment.context.value("reservationId").toString().startsWith("RES-"));
    QVERIFY(shipping.context.value("reservationId").toString().startsWith("RES-"));
    QVERIFY(shipping.context.value("authorizationId").toString().startsWith("AUTH-"));
    // Idempotency keys: one per (execution, step, action), recorded in STEP_STARTED.
    const auto events = h.eventsOf(id);
    QStringList keys;
    for (const OrderEvent &e : events) {
        if (e.type == EventType::StepStarted)
            keys << e.details.value("idempotencyKey").toString();
    }
    QCOMPARE(keys.size(), 3);
    for (int i = 0; i < 3; ++i)
        QCOMPARE(h.recorder->requests[i].idempotencyKey, keys[i]);
    QCOMPARE(QSet<QString>(keys.begin(), keys.end()).size(), 3);
    const OrderEvent shipped = events[6];
    QVERIFY(shipped.details.value("trackingNumber").toString().startsWith("TRK"));
    QCOMPARE(events.last().details.value("estimatedDelivery"), shipped.details.value("estimatedDelivery"));
}

void tst_Orchestrator::compensation_data()
{
    QTest::addColumn<QString>("product");
    QTest::addColumn<QString>("payment");
    QTest::addColumn<QString>("postal");
    QTest::addColumn<QString>("country");
    QTest::addColumn<QString>("code");
    QTest::addColumn<QStringList>("calls");
    QTest::addColumn<int>("overall");
    QTest::newRow("inventory fails: nothing to compensate")
        << "out-of-stock-product" << "visa" << "62701" << "US" << "INVENTORY_UNAVAILABLE" << QStringList{"Inventory+"}
        << int(OverallStatus::Failed);
    QTest::newRow("payment declined: release inventory")
        << "w" << "declined-card" << "62701" << "US" << "PAYMENT_DECLINED"
        << QStringList{"Inventory+", "Payment+", "Inventory-"} << int(OverallStatus::RolledBack);
    QTest::newRow("fraud: release inventory")
        << "w" << "fraud-card" << "62701" << "US" << "FRAUD_DETECTED"
        << QStringList{"Inventory+", "Payment+", "Inventory-"} << int(OverallStatus::RolledBack);
    QTest::newRow("invalid address: void payment, then release")
        << "w" << "visa" << "00000" << "US" << "INVALID_ADDRESS"
        << QStringList{"Inventory+", "Payment+", "Shipping+", "Payment-", "Inventory-"} << int(OverallStatus::RolledBack);
    QTest::newRow("no shipping: void payment, then release")
        << "w" << "visa" << "62701" << "XX" << "SHIPPING_UNAVAILABLE"
        << QStringList{"Inventory+", "Payment+", "Shipping+", "Payment-", "Inventory-"} << int(OverallStatus::RolledBack);
}

void tst_Orchestrator::compensation()
{
    QFETCH(QString, product);
    QFETCH(QString, payment);
    QFETCH(QString, postal);
    QFETCH(QString, country);
    QFETCH(QString, code);
    QFETCH(QStringList, calls);
    QFETCH(int, overall);
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    const QUuid id = h.submit(sampleOrder(product, payment, postal, country));
    QVERIFY(h.waitTerminal(id));
    QCOMPARE(requestsSummary(h.recorder, id), calls);
    QString rejected;
    const OrderProgress p = h.progress(id, &rejected);
    QVERIFY2(rejected.isEmpty(), qPrintable(rejected));
    QCOMPARE(int(p.overallStatus), overall);
    QCOMPARE(p.failure.code, code);
    const auto events = h.eventsOf(id);
    const OrderEvent last = events.last();
    QCOMPARE_ENUM(last.type, EventType::SagaFailed);
    QCOMPARE(last.error.code, code);
    QCOMPARE(last.details.value("compensationIncomplete").toBool(), false);
    for (const OrderEvent &e : events) {
        if (e.type == EventType::StepFailed)
            QCOMPARE(e.details.value("phase").toString(), QStringLiteral("FORWARD"));
    }
    // Every forward effect that happened was reversed exactly once.
    for (const StepRequest &r : h.recorder->requests) {
        if (r.action == StepAction::Forward && h.simulated->effectCount(r.idempotencyKey) == 1)
            QCOMPARE(h.simulated->reversalCount(r.idempotencyKey), 1);
    }
    auto order = h.orchestrator->store()->loadOrder(id);
    QVERIFY(order.ok());
    QCOMPARE_ENUM(order.value.status, recordStatusFor(OverallStatus(overall)));
    QCOMPARE(checkAllFold(h.events), QString());
}

void tst_Orchestrator::idempotentCompensation()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    const QUuid id = h.submit(sampleOrder("w", "declined-card"));
    QVERIFY(h.waitTerminal(id));
    const StepRequest forward = h.recorder->requests.first();
    QCOMPARE(h.simulated->effectCount(forward.idempotencyKey), 1);
    QCOMPARE(h.simulated->reversalCount(forward.idempotencyKey), 1);
    // Running the compensation again reverses nothing twice.
    StepRequest again = forward;
    again.action = StepAction::Compensate;
    bool ok = false;
    bool answered = false;
    h.simulated->call(again, [&](StepOutcome o) {
        ok = o.ok;
        answered = true;
    });
    QTRY_VERIFY(answered);
    QVERIFY(ok);
    QCOMPARE(h.simulated->reversalCount(forward.idempotencyKey), 1);
    // A compensation whose forward call never happened succeeds and reverses nothing.
    StepRequest never = forward;
    never.executionId = QStringLiteral("never-ran");
    never.action = StepAction::Compensate;
    answered = false;
    h.simulated->call(never, [&](StepOutcome o) {
        ok = o.ok;
        answered = true;
    });
    QTRY_VERIFY(answered);
    QVERIFY(ok);
    QCOMPARE(h.simulated->reversalCount(stepIdempotencyKey("never-ran", SagaStep::Inventory, StepAction::Forward)), 0);
}

void tst_Orchestrator::compensationRetriedThenSucceeds()
{
    EngineHarness h;
    QString error;
    EngineConfig c = config();
    c.compensationBudgetMs = 20000;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    FaultPlan plan;
    plan[SagaStep::Inventory].kind = StepFault::Kind::FailCompensation;
    plan[SagaStep::Inventory].once = true;
    h.faults->setPlan(plan);
    const QUuid id = h.submit(sampleOrder("w", "declined-card"));
    QVERIFY(h.waitTerminal(id));
    QCOMPARE(requestsSummary(h.recorder, id), QStringList({"Inventory+", "Payment+", "Inventory-", "Inventory-"}));
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::RolledBack);
    QCOMPARE(checkAllFold(h.events), QString());
    // The failed first call stays on record with the compensation: how many failed, and
    // the last answer, marked injected (the once-only fault fired and was not hidden).
    int compensated = 0;
    for (const OrderEvent &e : h.eventsOf(id)) {
        if (e.type != EventType::StepCompensated)
            continue;
        ++compensated;
        QCOMPARE(e.step, std::optional<SagaStep>(SagaStep::Inventory));
        QCOMPARE(e.details.value("failedAttempts").toInt(), 1);
        const QJsonObject last = e.details.value("lastFailure").toObject();
        QCOMPARE(last.value("code").toString(), QStringLiteral("COMPENSATION_FAILED"));
        QVERIFY2(last.value("message").toString().contains(QLatin1String("injected")),
                 qPrintable(last.value("message").toString()));
        QCOMPARE(last.value("injected").toBool(), true);
    }
    QCOMPARE(compensated, 1);
}

void tst_Orchestrator::compensationIncomplete()
{
    EngineHarness h;
    QString error;
    EngineConfig c = config();
    c.compensationBudgetMs = 500;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    FaultPlan plan;
    plan[SagaStep::Payment].kind = StepFault::Kind::FailCompensation;
    plan[SagaStep::Payment].once = false;
    h.faults->setPlan(plan);
    const QUuid id = h.submit(sampleOrder("w", "visa", "00000"));
    QVERIFY(h.waitTerminal(id));
    const auto events = h.eventsOf(id);
    QString rejected;
    const OrderProgress p = h.progress(id, &rejected);
    QVERIFY2(rejected.isEmpty(), qPrintable(rejected));
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::Failed);
    QVERIFY(p.compensationIncomplete);
    QCOMPARE_ENUM(p.step(SagaStep::Payment).status, StepStatus::Failed);
    // Inventory is still released after the payment's compensation gave up.
    QCOMPARE_ENUM(p.step(SagaStep::Inventory).status, StepStatus::Compensated);
    bool sawCompensationFailure = false;
    for (const OrderEvent &e : events) {
        if (e.type == EventType::StepFailed && e.details.value("phase").toString() == QLatin1String("COMPENSATION")) {
            sawCompensationFailure = true;
            QCOMPARE(e.step, std::optional<SagaStep>(SagaStep::Payment));
            QCOMPARE(e.details.value("injected").toBool(), true);
            // The fixed words, then the step's own answer: it reads as injected.
            QVERIFY2(e.error.message.startsWith(QLatin1String("compensation incomplete: "))
                         && e.error.message.contains(QLatin1String("injected")),
                     qPrintable(e.error.message));
        }
    }
    QVERIFY(sawCompensationFailure);
    QCOMPARE_ENUM(events.last().type, EventType::SagaFailed);
    QCOMPARE(events.last().details.value("compensationIncomplete").toBool(), true);
    QCOMPARE(events.last().error.message, QStringLiteral("compensation incomplete"));
    QVERIFY(requestsSummary(h.recorder, id).count("Payment-") >= 2); // retried with backoff
    // Not retryable: it needs an operator.
    const RetryEligibility e = h.eligibility(id);
    QVERIFY(!e.eligible);
    QCOMPARE(checkAllFold(h.events), QString());
}

// A failing compensation's budget counts from the event that began it, not from
// when an engine loaded the saga: one that resumes it after the budget ran out gives
// up after a few attempts (three) instead of spending a whole budget afresh, so an
// engine restarted more often than its budget still ends the saga. The record says
// that attempts before the restart were not counted.
void tst_Orchestrator::compensationBudgetCountsFromItsStart()
{
    EngineConfig c = config();
    c.engineId = QStringLiteral("engine-a");
    c.compensationBudgetMs = 60000;
    FaultPlan plan;
    plan[SagaStep::Payment].kind = StepFault::Kind::FailCompensation;
    plan[SagaStep::Payment].once = false;
    QString error;
    QUuid id;
    {
        EngineHarness a;
        a.faults->setPlan(plan);
        QVERIFY2(a.start(c, &error), qPrintable(error));
        id = a.submit(sampleOrder("w", "visa", "00000")); // shipping fails: void the payment, release inventory
        QTRY_VERIFY_WITH_TIMEOUT(requestsSummary(a.recorder, id).count(QStringLiteral("Payment-")) >= 2, 10000);
        // a stops with the void failing, well inside its 60 s budget
    }
    EngineConfig c2 = c;
    c2.engineId = QStringLiteral("engine-b");
    c2.clockSkewMs = 120000; // b runs two minutes later: the budget from a's COMPENSATION_STARTED is spent
    EngineHarness b;
    b.faults->setPlan(plan);
    QVERIFY2(b.start(c2, &error), qPrintable(error));
    auto progress = [&] { return b.orchestrator->store()->loadProgress(id).value; };
    // A budget afresh would keep it ROLLING_BACK for 60 s.
    QVERIFY2(QTest::qWaitFor([&] { return progress().isTerminal(); }, 20000),
             qPrintable(b.typesOf(id).join(' ') + " / " + requestsSummary(b.recorder, id).join(' ')));
    QCOMPARE(requestsSummary(b.recorder, id), QStringList({"Payment-", "Payment-", "Payment-", "Inventory-"}));
    const OrderProgress p = progress();
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::Failed);
    QVERIFY(p.compensationIncomplete);
    QCOMPARE_ENUM(p.step(SagaStep::Inventory).status, StepStatus::Compensated);
    const auto events = b.eventsOf(id);
    const auto gaveUp = std::find_if(events.begin(), events.end(), [](const OrderEvent &e) {
        return e.type == EventType::StepFailed && e.details.value("phase").toString() == QLatin1String("COMPENSATION");
    });
    QVERIFY(gaveUp != events.end());
    QCOMPARE(gaveUp->details.value("attempts").toInt(), 3);
    QCOMPARE(gaveUp->details.value("resumed").toBool(), true);
    // The inventory's release began under b: its attempts are all b's.
    const auto released = std::find_if(events.begin(), events.end(),
                                       [](const OrderEvent &e) { return e.type == EventType::StepCompensated; });
    QVERIFY(released != events.end());
    QVERIFY(!released->details.contains("resumed"));
}

void tst_Orchestrator::faultPlanOnce()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    FaultPlan plan;
    plan[SagaStep::Payment].kind = StepFault::Kind::Fail;
    plan[SagaStep::Payment].errorCode = QStringLiteral("PAYMENT_DECLINED");
    plan[SagaStep::Payment].once = true;
    h.faults->setPlan(plan);
    const QUuid first = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(first));
    const QUuid second = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(second));
    QCOMPARE_ENUM(h.progress(first).overallStatus, OverallStatus::RolledBack);
    QCOMPARE_ENUM(h.progress(second).overallStatus, OverallStatus::Completed);
    bool injectedMarked = false;
    for (const OrderEvent &e : h.eventsOf(first)) {
        if (e.type == EventType::StepFailed)
            injectedMarked = e.details.value("injected").toBool() && e.error.code == QLatin1String("PAYMENT_DECLINED");
    }
    QVERIFY(injectedMarked);
    QVERIFY(h.faults->plan().isEmpty()); // disarmed after firing once
    // A real (not injected) failure is not marked.
    const QUuid real = h.submit(sampleOrder("w", "declined-card"));
    QVERIFY(h.waitTerminal(real));
    for (const OrderEvent &e : h.eventsOf(real))
        QVERIFY(!e.details.contains("injected"));
}

void tst_Orchestrator::faultPlanProbability()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    FaultPlan plan;
    plan[SagaStep::Inventory].kind = StepFault::Kind::Fail;
    plan[SagaStep::Inventory].once = false;
    plan[SagaStep::Inventory].probability = 0.0;
    h.faults->setPlan(plan);
    QVector<QUuid> ids;
    for (int i = 0; i < 10; ++i)
        ids << h.submit(sampleOrder());
    for (const QUuid &id : ids) {
        QVERIFY(h.waitTerminal(id));
        QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::Completed);
    }
    plan[SagaStep::Inventory].probability = 1.0;
    h.faults->setPlan(plan);
    ids.clear();
    for (int i = 0; i < 10; ++i)
        ids << h.submit(sampleOrder());
    for (const QUuid &id : ids) {
        QVERIFY(h.waitTerminal(id));
        QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::Failed);
        QCOMPARE(h.progress(id).failure.code, QStringLiteral("INVENTORY_UNAVAILABLE"));
    }
    QVERIFY(!h.faults->plan().isEmpty()); // still armed (not once)
    plan[SagaStep::Inventory].probability = 0.5;
    h.faults->setPlan(plan);
    ids.clear();
    for (int i = 0; i < 60; ++i)
        ids << h.submit(sampleOrder());
    int failed = 0;
    for (const QUuid &id : ids) {
        QVERIFY(h.waitTerminal(id));
        failed += h.progress(id).overallStatus == OverallStatus::Failed ? 1 : 0;
    }
    QVERIFY2(failed > 5 && failed < 55, qPrintable(QString::number(failed)));
    QCOMPARE(checkAllFold(h.events), QString());
}

void tst_Orchestrator::faultPlanTimeoutAndDelay()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    FaultPlan plan;
    plan[SagaStep::Shipping].kind = StepFault::Kind::Timeout;
    h.faults->setPlan(plan);
    const QUuid timedOut = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(timedOut));
    const OrderProgress p = h.progress(timedOut);
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::RolledBack);
    QCOMPARE(p.failure.code, QStringLiteral("STEP_TIMEOUT"));
    plan = FaultPlan();
    plan[SagaStep::Inventory].kind = StepFault::Kind::Delay;
    plan[SagaStep::Inventory].delayMs = 150;
    h.faults->setPlan(plan);
    const QUuid delayed = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(delayed));
    QCOMPARE_ENUM(h.progress(delayed).overallStatus, OverallStatus::Completed);
    QCOMPARE(checkAllFold(h.events), QString());
}

// Random fault plans (seeded: the row names the seed) over a random mix of orders,
// the plan changed while sagas run, then every retry the engine allows, under yet
// another plan: every saga ends; its events fold; each execution keeps the order
// of steps and of compensations (checkExecutions); and the simulated services'
// ledger agrees with the events (checkEffectsMatchEvents): nothing done twice,
// nothing reversed that did not happen, nothing left in effect by a saga whose
// events say it was compensated, across retries too.
void tst_Orchestrator::randomFaultPlansLeaveEverySagaConsistent_data()
{
    TestServices::addSeedRows(1, 6);
}

void tst_Orchestrator::randomFaultPlansLeaveEverySagaConsistent()
{
    QFETCH(quint32, seed);
    EngineConfig c = config();
    c.stepTimeoutMs = 150;
    c.compensationBudgetMs = 400;
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    const RandomFaultRun run = runRandomFaultPlans(h, seed);
    QVERIFY2(run.failure.isEmpty(), qPrintable(run.failure + run.said()));
    QVERIFY2(checkAllFold(h.events).isEmpty(), qPrintable(checkAllFold(h.events) + run.said()));
    const QString executions = checkExecutions(h.events, h.recorder->requests);
    QVERIFY2(executions.isEmpty(), qPrintable(executions + run.said()));
    const QString ledger = checkEffectsMatchEvents(*h.simulated, h.recorder->requests, h.events);
    QVERIFY2(ledger.isEmpty(), qPrintable(ledger + run.said()));
    qInfo().noquote() << run.summary(h);
}

void tst_Orchestrator::manyConcurrentSagasGroupCommit()
{
    EngineHarness h;
    QString error;
    EngineConfig c = config();
    c.stepDelayMs = 5;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    QVector<QUuid> ids;
    int answered = 0;
    for (int i = 0; i < 200; ++i) {
        h.orchestrator->submit(i % 5 == 0 ? sampleOrder("w", "declined-card") : sampleOrder(), [&](SubmitResult r) {
            ids << r.orderId;
            ++answered;
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(answered, 200, 60000);
    for (const QUuid &id : ids)
        QVERIFY(h.waitTerminal(id, 60000));
    QCOMPARE(checkAllFold(h.events), QString());
    // Group commit: far fewer transactions than transitions.
    QVERIFY2(h.orchestrator->committedBatches() < h.orchestrator->committedTransitions() / 4,
             qPrintable(QStringLiteral("%1 batches for %2 transitions")
                            .arg(h.orchestrator->committedBatches())
                            .arg(h.orchestrator->committedTransitions())));
}

// The committer thread commits one batch while the next accumulates: a step call
// still goes out only after its STEP_STARTED is stored, events are emitted in
// commit (position) order, and follow-up transitions that need no step call
// (STEP_COMPLETED + next STEP_STARTED, ...) share one transaction.
void tst_Orchestrator::pipelinedCommitsWriteAheadAndOrder()
{
    // Checks, when a forward call goes out, that its STEP_STARTED is committed
    // (read through the orchestrator's own connection: committed data only).
    class WriteAheadCheck : public StepClient
    {
    public:
        WriteAheadCheck(std::unique_ptr<StepClient> inner, EngineHarness *h)
            : m_inner(std::move(inner))
            , m_h(h)
        {
        }
        void call(const StepRequest &request, std::function<void(StepOutcome)> done) override
        {
            ++calls;
            if (request.action == StepAction::Forward) {
                auto events = m_h->orchestrator->store()->loadEvents(request.orderId);
                bool started = false;
                for (const OrderEvent &e : std::as_const(events.value)) {
                    started = started
                        || (e.type == EventType::StepStarted && e.step == request.step
                            && e.details.value(QStringLiteral("idempotencyKey")).toString() == request.idempotencyKey);
                }
                if (!started)
                    violations << request.idempotencyKey;
            }
            m_inner->call(request, std::move(done));
        }
        QString describe() const override { return QStringLiteral("write-ahead check"); }
        int calls = 0;
        QStringList violations;

    private:
        std::unique_ptr<StepClient> m_inner;
        EngineHarness *m_h;
    };

    EngineHarness h;
    QString error;
    EngineConfig c = config();
    auto check = std::make_unique<WriteAheadCheck>(
        std::make_unique<SimulatedStepClient>(h.faults, c.stepDelayMs, c.stepTimeoutMs), &h);
    WriteAheadCheck *checker = check.get();
    QVERIFY2(h.start(c, &error, std::move(check)), qPrintable(error));
    QVector<QUuid> ids;
    int answered = 0;
    for (int i = 0; i < 300; ++i) {
        const OrderRequest r = i % 7 == 0 ? sampleOrder("w", "declined-card")
            : i % 11 == 0              ? sampleOrder("w", "visa-4242", "00000")
                                       : sampleOrder();
        h.orchestrator->submit(r, [&](SubmitResult res) {
            QVERIFY2(res.error.ok(), qPrintable(res.error.message));
            ids << res.orderId;
            ++answered;
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(answered, 300, 60000);
    for (const QUuid &id : std::as_const(ids))
        QVERIFY(h.waitTerminal(id, 60000));
    QVERIFY(checker->calls > 0);
    QVERIFY2(checker->violations.isEmpty(), qPrintable(checker->violations.join(QLatin1Char(' '))));
    QCOMPARE(checkAllFold(h.events), QString());
    // SQLite has one writer: one commit connection, one batch in flight at a time.
    QCOMPARE(h.orchestrator->commitConnections(), 1);
    QCOMPARE(h.orchestrator->maxBatchesInFlight(), 1);
    // Emitted in commit order: positions strictly increase; and all of them are stored once.
    for (int i = 1; i < h.events.size(); ++i)
        QVERIFY2(h.events[i].position > h.events[i - 1].position,
                 qPrintable(QStringLiteral("position %1 after %2").arg(h.events[i].position).arg(h.events[i - 1].position)));
    auto all = h.orchestrator->store()->loadEventsAfterPosition(0, 100000);
    QVERIFY(all.ok());
    QCOMPARE(all.value.size(), h.events.size());
    // Chained follow-ups: a STEP_COMPLETED and the next STEP_STARTED commit together
    // (adjacent positions in the same transaction).
    const QVector<OrderEvent> happy = h.eventsOf(ids.at(1));
    QCOMPARE(happy.size(), 8);
    QCOMPARE(happy[0].position + 1, happy[1].position); // SAGA_STARTED + STEP_STARTED
    QCOMPARE(happy[2].position + 1, happy[3].position); // STEP_COMPLETED + STEP_STARTED
    QCOMPARE(happy[6].position + 1, happy[7].position); // STEP_COMPLETED + SAGA_COMPLETED
    QVERIFY2(h.orchestrator->committedBatches() < h.orchestrator->committedTransitions() / 4,
             qPrintable(QStringLiteral("%1 batches for %2 transitions")
                            .arg(h.orchestrator->committedBatches())
                            .arg(h.orchestrator->committedTransitions())));
}

void tst_Orchestrator::retryPolicyMatrix_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("code");
    QTest::addColumn<bool>("incomplete");
    QTest::addColumn<int>("attempt");
    QTest::addColumn<int>("lastRetrySecondsAgo"); // -1: never retried
    QTest::addColumn<int>("expected");
    QTest::addColumn<QStringList>("actions");
    QTest::addColumn<QString>("reason"); // empty: any
    const int rb = int(OverallStatus::RolledBack);
    QTest::newRow("declined: update payment") << rb << "PAYMENT_DECLINED" << false << 1 << -1 << int(RetryDecision::Accepted)
                                              << QStringList{"UPDATE_PAYMENT_METHOD"} << QString();
    QTest::newRow("invalid address: update address") << rb << "INVALID_ADDRESS" << false << 1 << -1
                                                     << int(RetryDecision::Accepted) << QStringList{"UPDATE_SHIPPING_ADDRESS"} << QString();
    QTest::newRow("fraud: never") << rb << "FRAUD_DETECTED" << false << 1 << -1 << int(RetryDecision::NonRetryable)
                                  << QStringList{} << QString();
    QTest::newRow("compensation incomplete: never") << int(OverallStatus::Failed) << "PAYMENT_DECLINED" << true << 1 << -1
                                                    << int(RetryDecision::NonRetryable) << QStringList{} << QString();
    // Used up: no retry will happen, so nothing is required for one (the console would
    // advise updating the card next to "maximum retry attempts exceeded").
    QTest::newRow("3 retries used") << rb << "PAYMENT_DECLINED" << false << 4 << 3600 << int(RetryDecision::MaxAttemptsExceeded)
                                    << QStringList{} << QStringLiteral("maximum retry attempts exceeded");
    QTest::newRow("2 retries used, cooldown over") << rb << "PAYMENT_DECLINED" << false << 3 << 3600
                                                   << int(RetryDecision::Accepted) << QStringList{"UPDATE_PAYMENT_METHOD"} << QString();
    QTest::newRow("cooldown active") << rb << "PAYMENT_DECLINED" << false << 2 << 5 << int(RetryDecision::CooldownActive)
                                     << QStringList{"UPDATE_PAYMENT_METHOD"} << QString();
    QTest::newRow("retry running") << int(OverallStatus::InProgress) << "" << false << 2 << 5
                                   << int(RetryDecision::AlreadyInProgress) << QStringList{}
                                   << QStringLiteral("retry already in progress");
    QTest::newRow("first execution running") << int(OverallStatus::InProgress) << "" << false << 1 << -1
                                             << int(RetryDecision::NotFailed) << QStringList{}
                                             << RetryPolicy::stillRunningReason();
    // Its failure being reversed: not "still running; only a failed order can be
    // retried" (read as never), but that a retry may come once the reversal ended.
    QTest::newRow("first execution being reversed") << int(OverallStatus::RollingBack) << "" << false << 1 << -1
                                                    << int(RetryDecision::NotFailed) << QStringList{}
                                                    << QStringLiteral("the order's failed attempt is still being "
                                                                      "reversed; once that has ended the order can be "
                                                                      "retried, if its failure allows a retry");
    QTest::newRow("retry being reversed") << int(OverallStatus::RollingBack) << "" << false << 2 << 5
                                          << int(RetryDecision::AlreadyInProgress) << QStringList{}
                                          << QStringLiteral("retry already in progress: its failed attempt is still "
                                                            "being reversed; once that has ended the order can be "
                                                            "retried again, if its failure allows a retry");
    QTest::newRow("completed") << int(OverallStatus::Completed) << "" << false << 1 << -1 << int(RetryDecision::NotFailed)
                               << QStringList{} << QString();
}

// What the retry policy is asked about in its data-driven tests: a cooldown of 30 s,
// at most 3 retries, the last one lastRetrySecondsAgo before now (-1: none).
static RetryFacts retryFacts(int status, const QString &code, bool incomplete, int attempt, int lastRetrySecondsAgo)
{
    RetryFacts f;
    f.latestStatus = OverallStatus(status);
    f.failureCode = code;
    f.compensationIncomplete = incomplete;
    f.latestAttempt = attempt;
    f.now = QDateTime::currentDateTimeUtc();
    if (lastRetrySecondsAgo >= 0)
        f.lastRetryInitiatedAt = f.now.addSecs(-lastRetrySecondsAgo);
    f.cooldownSeconds = 30;
    f.maxRetries = 3;
    return f;
}

void tst_Orchestrator::retryPolicyMatrix()
{
    QFETCH(int, status);
    QFETCH(QString, code);
    QFETCH(bool, incomplete);
    QFETCH(int, attempt);
    QFETCH(int, lastRetrySecondsAgo);
    QFETCH(int, expected);
    QFETCH(QStringList, actions);
    QFETCH(QString, reason);
    const RetryFacts f = retryFacts(status, code, incomplete, attempt, lastRetrySecondsAgo);
    const RetryVerdict v = RetryPolicy::evaluate(f);
    QCOMPARE(int(v.code), expected);
    QCOMPARE(v.eligibility.eligible, expected == int(RetryDecision::Accepted));
    QCOMPARE(v.eligibility.retryCount, attempt - 1);
    QCOMPARE(v.eligibility.maxRetries, 3);
    QCOMPARE(v.eligibility.requiredActions, actions); // none where a retry cannot happen
    if (expected == int(RetryDecision::CooldownActive))
        QCOMPARE(v.eligibility.nextRetryAvailableAt, f.lastRetryInitiatedAt.addSecs(30));
    QVERIFY(!v.eligibility.reason.isEmpty());
    if (!reason.isEmpty())
        QCOMPARE(v.eligibility.reason, reason);
}

// The order's own answer (failure.retryable, suggestedAction) says what the policy
// decides: an order whose compensation is incomplete, or whose retries are used up,
// is not retryable and is not told to "retry the order"; a cooldown is no reason.
void tst_Orchestrator::failureAdviceAgreesWithThePolicy_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("code");
    QTest::addColumn<bool>("incomplete");
    QTest::addColumn<int>("attempt");
    QTest::addColumn<int>("lastRetrySecondsAgo"); // -1: never retried
    QTest::addColumn<bool>("retryable");
    QTest::addColumn<QString>("action");
    const int rb = int(OverallStatus::RolledBack);
    const int failed = int(OverallStatus::Failed);
    const QString support = QStringLiteral("Customer support has been notified and will resolve this for you.");
    const QString usedUp = QStringLiteral("This order has been retried as often as it can be; please contact customer "
                                          "support or place a new order.");
    QTest::newRow("shipping unavailable") << rb << "SHIPPING_UNAVAILABLE" << false << 1 << -1 << true
                                          << "Choose a shipping address we deliver to and retry the order.";
    QTest::newRow("shipping unavailable, compensation incomplete")
        << failed << "SHIPPING_UNAVAILABLE" << true << 1 << -1 << false << support;
    QTest::newRow("declined, 2 retries used") << rb << "PAYMENT_DECLINED" << false << 3 << 3600 << true
                                              << "Update your payment method and retry the order.";
    QTest::newRow("declined, cooldown active") << rb << "PAYMENT_DECLINED" << false << 2 << 5 << true
                                               << "Update your payment method and retry the order.";
    QTest::newRow("declined, 3 retries used") << rb << "PAYMENT_DECLINED" << false << 4 << 3600 << false << usedUp;
    QTest::newRow("fraud") << rb << "FRAUD_DETECTED" << false << 1 << -1 << false
                           << "Please contact customer support about this order.";
    QTest::newRow("fraud, compensation incomplete") << failed << "FRAUD_DETECTED" << true << 1 << -1 << false << support;
}

void tst_Orchestrator::failureAdviceAgreesWithThePolicy()
{
    QFETCH(int, status);
    QFETCH(QString, code);
    QFETCH(bool, incomplete);
    QFETCH(int, attempt);
    QFETCH(int, lastRetrySecondsAgo);
    QFETCH(bool, retryable);
    QFETCH(QString, action);
    const RetryFacts f = retryFacts(status, code, incomplete, attempt, lastRetrySecondsAgo);
    const FailureInfo info = RetryPolicy::failureAdvice(f);
    QCOMPARE(info.retryable, retryable);
    QCOMPARE(info.suggestedAction, action);
    QCOMPARE(info.code, code);
    if (!retryable)
        QVERIFY(info.requiredActions.isEmpty());
    // Retryable exactly when the policy would take a retry now or after its cooldown.
    const RetryDecision::Code decided = RetryPolicy::evaluate(f).code;
    QCOMPARE(retryable, decided == RetryDecision::Accepted || decided == RetryDecision::CooldownActive);
}

// While a failed first attempt is reversed (a compensation failing and retried), a
// retry is refused as before (NotFailed: 409 ORDER_NOT_FAILED), with a reason that
// says a retry may come once the reversal has ended; and then it does.
void tst_Orchestrator::retryWhileTheFailureIsReversedSaysSo()
{
    EngineHarness h;
    QString error;
    EngineConfig c = config();
    c.compensationBudgetMs = 60000;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    FaultPlan plan;
    plan[SagaStep::Payment].kind = StepFault::Kind::FailCompensation;
    plan[SagaStep::Payment].once = false;
    h.faults->setPlan(plan);
    const QUuid id = h.submit(sampleOrder("w", "visa", "00000")); // shipping fails: void the payment (failing)
    QTRY_VERIFY_WITH_TIMEOUT(requestsSummary(h.recorder, id).count(QStringLiteral("Payment-")) >= 2, 10000);
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::RollingBack);
    RetryRequest req;
    req.orderId = id;
    const RetryDecision refused = h.retry(req);
    QCOMPARE(int(refused.code), int(RetryDecision::NotFailed));
    QVERIFY2(refused.reason.startsWith(QLatin1String("the order's failed attempt is still being reversed")),
             qPrintable(refused.reason));
    QCOMPARE(refused.reason, RetryPolicy::beingReversedReason());
    const RetryEligibility e = h.eligibility(id);
    QVERIFY(!e.eligible);
    QCOMPARE(e.reason, RetryPolicy::beingReversedReason());

    h.faults->setPlan(FaultPlan{}); // the void goes through at its next attempt
    QVERIFY(h.waitTerminal(id));
    QCOMPARE_ENUM(h.progress(id).overallStatus, OverallStatus::RolledBack);
    QVERIFY(h.eligibility(id).eligible);
}

void tst_Orchestrator::retryWithCorrection()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    const QUuid id = h.submit(sampleOrder("w", "declined-card"));
    QVERIFY(h.waitTerminal(id));
    const RetryEligibility e = h.eligibility(id);
    QVERIFY(e.eligible);
    QCOMPARE(e.requiredActions, QStringList{"UPDATE_PAYMENT_METHOD"});
    QCOMPARE(e.retryCount, 0);
    QCOMPARE(e.maxRetries, 3);

    RetryRequest req;
    req.orderId = id;
    req.paymentMethodId = QStringLiteral("visa-4242");
    const RetryDecision d = h.retry(req);
    QCOMPARE(int(d.code), int(RetryDecision::Accepted));
    QCOMPARE(d.attemptNumber, 2);
    QVERIFY(!d.executionId.isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(h.progress(id).overallStatus == OverallStatus::Completed, 30000);
    QString rejected;
    const OrderProgress p = h.progress(id, &rejected);
    QVERIFY2(rejected.isEmpty(), qPrintable(rejected));
    QCOMPARE(p.attemptNumber, 2);
    // The retry's SAGA_STARTED.
    OrderEvent started;
    for (const OrderEvent &ev : h.eventsOf(id)) {
        if (ev.type == EventType::SagaStarted)
            started = ev;
    }
    QCOMPARE(started.details.value("attemptNumber").toInt(), 2);
    QCOMPARE(started.details.value("isRetry").toBool(), true);
    QCOMPARE(started.details.value("executionId").toString(), d.executionId);
    QCOMPARE(started.details.value("resumedFromStep").toString(), QStringLiteral("Inventory Reservation"));
    // What it corrected is on record (the order row keeps only the new value).
    const QJsonObject payment = started.details.value("corrections").toObject().value("paymentMethodId").toObject();
    QCOMPARE(payment.value("previous").toString(), QStringLiteral("declined-card"));
    QCOMPARE(payment.value("corrected").toString(), QStringLiteral("visa-4242"));
    QVERIFY(!started.details.value("corrections").toObject().contains("shippingAddress"));
    // All steps re-ran in the new execution with new idempotency keys.
    QCOMPARE(requestsSummary(h.recorder, id),
             QStringList({"Inventory+", "Payment+", "Inventory-", "Inventory+", "Payment+", "Shipping+"}));
    QVERIFY(h.recorder->requests[3].idempotencyKey.startsWith(d.executionId));
    auto attempts = h.orchestrator->store()->retryAttempts(id);
    QVERIFY(attempts.ok());
    QCOMPARE(attempts.value.size(), 1);
    QCOMPARE(attempts.value.first().attemptNumber, 2);
    QCOMPARE(attempts.value.first().resumedFromStep, QStringLiteral("Inventory Reservation"));
    QCOMPARE(attempts.value.first().outcome, QStringLiteral("SUCCESS"));
    QCOMPARE(attempts.value.first().executionId, d.executionId);
    auto order = h.orchestrator->store()->loadOrder(id);
    QCOMPARE(order.value.paymentMethodId, QStringLiteral("visa-4242"));
    QCOMPARE_ENUM(order.value.status, OrderRecordStatus::Completed);
    auto execs = h.orchestrator->store()->executions(id);
    QCOMPARE(execs.value.size(), 2);
    QCOMPARE_ENUM(execs.value[0].status, OverallStatus::RolledBack);
    QCOMPARE_ENUM(execs.value[1].status, OverallStatus::Completed);
    // Completed orders cannot be retried.
    QCOMPARE(int(h.retry(req).code), int(RetryDecision::NotFailed));

    // Address correction.
    const QUuid addr = h.submit(sampleOrder("w", "visa", "00000"));
    QVERIFY(h.waitTerminal(addr));
    QCOMPARE(h.eligibility(addr).requiredActions, QStringList{"UPDATE_SHIPPING_ADDRESS"});
    RetryRequest fix;
    fix.orderId = addr;
    fix.shippingAddress = ShippingAddress{"2 Elm St", "Springfield", "IL", "62702", "US"};
    QCOMPARE(int(h.retry(fix).code), int(RetryDecision::Accepted));
    QTRY_VERIFY_WITH_TIMEOUT(h.progress(addr).overallStatus == OverallStatus::Completed, 30000);
    QCOMPARE(h.orchestrator->store()->loadOrder(addr).value.shippingAddress.postalCode, QStringLiteral("62702"));
    QJsonObject addressCorrected;
    for (const OrderEvent &ev : h.eventsOf(addr)) {
        if (ev.type == EventType::SagaStarted)
            addressCorrected = ev.details.value("corrections").toObject();
    }
    QCOMPARE(addressCorrected.value("shippingAddress").toObject().value("previous").toObject().value("postalCode").toString(),
             QStringLiteral("00000"));
    QCOMPARE(addressCorrected.value("shippingAddress").toObject().value("corrected").toObject().value("city").toString(),
             QStringLiteral("Springfield"));
    QVERIFY(!addressCorrected.contains("paymentMethodId"));
    QCOMPARE(checkAllFold(h.events), QString());
}

void tst_Orchestrator::retryRejections()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    const QUuid fraud = h.submit(sampleOrder("w", "fraud-card"));
    QVERIFY(h.waitTerminal(fraud));
    const RetryEligibility e = h.eligibility(fraud);
    QVERIFY(!e.eligible);
    QCOMPARE(e.reason, QStringLiteral("non-retryable failure"));
    RetryRequest req;
    req.orderId = fraud;
    const RetryDecision d = h.retry(req);
    QCOMPARE(int(d.code), int(RetryDecision::NonRetryable));
    QCOMPARE(d.reason, QStringLiteral("non-retryable failure"));
    req.orderId = QUuid::createUuid();
    QCOMPARE(int(h.retry(req).code), int(RetryDecision::NotFound));
    StoreError err;
    h.eligibility(req.orderId, &err);
    QCOMPARE(err.kind, StoreError::NotFound);
}

void tst_Orchestrator::retryMaxAttempts()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    const QUuid id = h.submit(sampleOrder("w", "declined-card"));
    QVERIFY(h.waitTerminal(id));
    RetryRequest req;
    req.orderId = id;
    for (int attempt = 2; attempt <= 4; ++attempt) {
        const RetryDecision d = h.retry(req);
        QCOMPARE(int(d.code), int(RetryDecision::Accepted));
        QCOMPARE(d.attemptNumber, attempt);
        QTRY_VERIFY_WITH_TIMEOUT(h.progress(id).attemptNumber == attempt && h.progress(id).isTerminal(), 30000);
    }
    const RetryEligibility e = h.eligibility(id);
    QVERIFY(!e.eligible);
    QCOMPARE(e.retryCount, 3);
    const RetryDecision d = h.retry(req);
    QCOMPARE(int(d.code), int(RetryDecision::MaxAttemptsExceeded));
    QCOMPARE(d.reason, QStringLiteral("maximum retry attempts exceeded"));
    auto attempts = h.orchestrator->store()->retryAttempts(id);
    QCOMPARE(attempts.value.size(), 3);
    for (const RetryAttempt &a : attempts.value)
        QCOMPARE(a.outcome, QStringLiteral("COMPENSATED"));
    QCOMPARE(checkAllFold(h.events), QString());
}

void tst_Orchestrator::retryCooldown()
{
    EngineHarness h;
    QString error;
    EngineConfig c = config();
    c.retryCooldownSeconds = 3600;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    const QUuid id = h.submit(sampleOrder("w", "declined-card"));
    QVERIFY(h.waitTerminal(id));
    RetryRequest req;
    req.orderId = id;
    QCOMPARE(int(h.retry(req).code), int(RetryDecision::Accepted)); // the first retry needs no cooldown
    QTRY_VERIFY_WITH_TIMEOUT(h.progress(id).attemptNumber == 2 && h.progress(id).isTerminal(), 30000);
    const RetryEligibility e = h.eligibility(id);
    QVERIFY(!e.eligible);
    QCOMPARE(e.reason, QStringLiteral("retry cooldown period not elapsed"));
    QVERIFY(e.nextRetryAvailableAt > QDateTime::currentDateTimeUtc().addSecs(3000));
    const RetryDecision d = h.retry(req);
    QCOMPARE(int(d.code), int(RetryDecision::CooldownActive));
    QCOMPARE(d.nextRetryAvailableAt, e.nextRetryAvailableAt);
}

// Every submit/retry/eligibility callback runs exactly once: committed, refused
// synchronously (invalid, stopped), or answered "not recorded" by stop() while
// still queued. Counted per request; the orchestrator's own guard (Q_ASSERT in
// debug builds) must not have seen a double or missing answer.
void tst_Orchestrator::callbacksAnsweredExactlyOnce()
{
    const int violationsBefore = Orchestrator::callbackViolations();
    QVector<int> calls; // declared before the harness: stop() answers while it is destroyed
    QVector<QUuid> ids;
    QUuid declined;
    {
        EngineHarness h;
        QString error;
        QVERIFY2(h.start(config(), &error), qPrintable(error));
        auto submitOne = [&](const OrderRequest &request) {
            const int index = int(calls.size());
            calls.append(0);
            h.orchestrator->submit(request, [&calls, &ids, index](SubmitResult r) {
                ++calls[index];
                if (r.error.ok())
                    ids.append(r.orderId);
            });
        };
        for (int i = 0; i < 40; ++i)
            submitOne(i % 4 == 0 ? sampleOrder("widget-1", "declined-card") : sampleOrder());
        OrderRequest invalid = sampleOrder();
        invalid.items.clear();
        submitOne(invalid); // refused synchronously
        QCOMPARE(calls.last(), 1);
        QTRY_COMPARE_WITH_TIMEOUT(int(ids.size()), 40, 30000);
        const QVector<QUuid> accepted = ids; // a copy: waitTerminal() runs the event loop
        for (const QUuid &id : accepted) {
            QVERIFY(h.waitTerminal(id));
            if (h.progress(id).overallStatus == OverallStatus::RolledBack)
                declined = id;
        }
        QVERIFY(!declined.isNull());

        // Retries: accepted, then one refused while it runs; eligibility answered once.
        int retryCalls = 0;
        int eligibilityCalls = 0;
        RetryRequest req;
        req.orderId = declined;
        req.paymentMethodId = QStringLiteral("visa");
        h.orchestrator->retry(req, [&retryCalls](RetryDecision) { ++retryCalls; });
        h.orchestrator->retry(req, [&retryCalls](RetryDecision d) {
            ++retryCalls;
            QCOMPARE(int(d.code), int(RetryDecision::AlreadyInProgress));
        });
        h.orchestrator->eligibility(declined, [&eligibilityCalls](RetryEligibility, StoreError) { ++eligibilityCalls; });
        QTRY_COMPARE(retryCalls, 2);
        QCOMPARE(eligibilityCalls, 1);

        // Stopped with submissions still queued: each is committed by stop() or answered "not recorded".
        for (int i = 0; i < 20; ++i)
            submitOne(sampleOrder());
        h.orchestrator->stop();
        submitOne(sampleOrder()); // refused: stopped
        QTest::qWait(50);
        QCOMPARE(retryCalls, 2);
        QCOMPARE(eligibilityCalls, 1);
    }
    for (int i = 0; i < calls.size(); ++i)
        QVERIFY2(calls[i] == 1, qPrintable(QStringLiteral("submission %1 answered %2 times").arg(i).arg(calls[i])));
    QCOMPARE(Orchestrator::callbackViolations(), violationsBefore);
}

void tst_Orchestrator::retryOneAtATime()
{
    EngineHarness h;
    QString error;
    EngineConfig c = config();
    c.stepDelayMs = 100;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    const QUuid id = h.submit(sampleOrder("w", "declined-card"));
    // While the first execution runs, no retry: nothing failed yet.
    RetryRequest req;
    req.orderId = id;
    const RetryDecision first = h.retry(req);
    QCOMPARE(int(first.code), int(RetryDecision::NotFailed));
    QCOMPARE(first.reason, RetryPolicy::stillRunningReason());
    QVERIFY(h.waitTerminal(id));
    req.paymentMethodId = QStringLiteral("visa");
    QCOMPARE(int(h.retry(req).code), int(RetryDecision::Accepted));
    const RetryDecision second = h.retry(req);
    QCOMPARE(int(second.code), int(RetryDecision::AlreadyInProgress));
    QCOMPARE(second.reason, QStringLiteral("retry already in progress"));
    QVERIFY(!h.eligibility(id).eligible);
    QTRY_VERIFY_WITH_TIMEOUT(h.progress(id).overallStatus == OverallStatus::Completed, 30000);
}

// A client that saw an order's end (saga-server's event feed, NOTIFY) may ask for
// a retry before this engine has handled that commit's report. The order has
// ended: the retry is accepted (it was refused as "still running" / "in progress").
void tst_Orchestrator::retryAskedAsTheEndIsCommitted()
{
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(config(), &error), qPrintable(error));
    const QUuid id = h.submit(sampleOrder("w", "declined-card"));
    QVERIFY(!id.isNull());
    RetryDecision decision;
    RetryEligibility eligibility;
    int answers = 0;
    QObject context;
    QObject::connect(h.orchestrator.get(), &Orchestrator::eventsCommitted, &context,
                     [&](const QVector<OrderEvent> &events) {
                         for (const OrderEvent &e : events) {
                             if (e.orderId != id || e.type != EventType::SagaFailed)
                                 continue;
                             // The end is committed; the engine has not applied it yet.
                             h.orchestrator->eligibility(id, [&](RetryEligibility el, StoreError) {
                                 eligibility = el;
                                 ++answers;
                             });
                             RetryRequest req;
                             req.orderId = id;
                             req.paymentMethodId = QStringLiteral("visa");
                             h.orchestrator->retry(req, [&](RetryDecision d) {
                                 decision = d;
                                 ++answers;
                             });
                         }
                     },
                     Qt::DirectConnection);
    QTRY_COMPARE_WITH_TIMEOUT(answers, 2, 30000);
    QVERIFY2(eligibility.eligible, qPrintable(eligibility.reason));
    QCOMPARE(int(decision.code), int(RetryDecision::Accepted));
    QCOMPARE(decision.attemptNumber, 2);
    QTRY_VERIFY_WITH_TIMEOUT(h.progress(id).overallStatus == OverallStatus::Completed, 30000);
}

void tst_Orchestrator::resumeAfterRestart()
{
    const EngineConfig c = neverAnswered(QStringLiteral("engine-a")); // the first engine
    QString error;
    QUuid id;
    QString forwardKey;
    {
        EngineHarness a;
        QVERIFY2(a.start(c, &error), qPrintable(error));
        id = a.submit(sampleOrder());
        QTRY_VERIFY(a.eventsOf(id).size() == 2); // STEP_STARTED committed, call out
        forwardKey = a.eventsOf(id).last().details.value("idempotencyKey").toString();
        QCOMPARE(a.recorder->requests.size(), 1);
        // a goes away with the step in flight (its lease is released on stop)
    }
    EngineConfig c2 = c;
    c2.engineId = QStringLiteral("engine-b");
    c2.stepDelayMs = 0;
    EngineHarness b;
    QVERIFY2(b.start(c2, &error), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(!b.recorder->requests.isEmpty(), 10000);
    // The in-flight step is driven again with the same idempotency key.
    QCOMPARE(b.recorder->requests.first().idempotencyKey, forwardKey);
    auto progress = [&] { return b.orchestrator->store()->loadProgress(id).value; };
    QTRY_VERIFY_WITH_TIMEOUT(progress().overallStatus == OverallStatus::Completed, 30000);
    auto events = b.orchestrator->store()->loadEvents(id);
    QCOMPARE(events.value.size(), 8);
    QCOMPARE(checkAllFold(events.value), QString());
    int started = 0;
    for (const OrderEvent &e : events.value)
        started += e.type == EventType::StepStarted && e.step == SagaStep::Inventory ? 1 : 0;
    QCOMPARE(started, 1);
}

// A saga whose history holds an event type this engine does not know (written by
// a newer version sharing the database, whose engine then stopped) is not driven:
// what that event means for the next step is not known here. Its lease is let go
// for an engine that knows, and that is said in the log. Read as SAGA_STARTED it
// started the saga over: its first step was taken again.
void tst_Orchestrator::sagaWithAnUnknownEventIsLeftToANewerEngine()
{
    const EngineConfig c = neverAnswered(QStringLiteral("engine-a")); // the first engine
    QString error;
    QUuid id;
    {
        EngineHarness a;
        id = startWithASagaMidStep(a, c);
        QVERIFY(!id.isNull());
        QCOMPARE(a.recorder->requests.size(), 1);
    }
    const QString connection = QStringLiteral("newer-version");
    {
        QSqlDatabase db = c.database.addConnection(connection);
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QSqlQuery q(db);
        QVERIFY2(q.exec(QStringLiteral("UPDATE saga_counters SET last_position = last_position + 1")),
                 qPrintable(q.lastError().text()));
        QVERIFY(q.prepare(QStringLiteral("INSERT INTO order_events (order_id, seq, position, event_type, step_name, "
                                         "details, created_at) SELECT order_id, 3, (SELECT last_position FROM "
                                         "saga_counters), 'INVENTORY_HELD_FOR_REVIEW', step_name, '{}', created_at + 1 "
                                         "FROM order_events WHERE order_id = ? AND seq = 2")));
        q.addBindValue(id.toString(QUuid::WithoutBraces));
        QVERIFY2(q.exec(), qPrintable(q.lastError().text()));
        QCOMPARE(q.numRowsAffected(), 1);
    }
    QSqlDatabase::removeDatabase(connection);

    EngineConfig c2 = c;
    c2.engineId = QStringLiteral("engine-b");
    c2.stepDelayMs = 0;
    EngineHarness b;
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("saga of order %1 .* not resumed: its event 3 is of type "
                                                           "INVENTORY_HELD_FOR_REVIEW")
                                                .arg(id.toString(QUuid::WithoutBraces))));
    QVERIFY2(b.start(c2, &error), qPrintable(error)); // claims and resumes unfinished sagas
    QCoreApplication::processEvents();
    QVERIFY(b.recorder->requests.isEmpty());
    const auto events = b.orchestrator->store()->loadEvents(id);
    QVERIFY2(events.ok(), qPrintable(events.error.message));
    QCOMPARE(events.value.size(), 3);
    QCOMPARE(events.value.last().typeName, QStringLiteral("INVENTORY_HELD_FOR_REVIEW"));
    {
        QSqlDatabase db = c.database.addConnection(connection);
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QSqlQuery q(db);
        QVERIFY(q.prepare(QStringLiteral("SELECT lease_owner, completed_at FROM saga_executions WHERE order_id = ?")));
        q.addBindValue(id.toString(QUuid::WithoutBraces));
        QVERIFY2(q.exec() && q.next(), qPrintable(q.lastError().text()));
        QVERIFY2(q.value(0).isNull(), qPrintable(q.value(0).toString())); // let go, not held by engine-b
        QVERIFY(q.value(1).isNull());
    }
    QSqlDatabase::removeDatabase(connection);
}

// An engine destroyed while a transition is with its committer (a test ending the
// moment the store shows what it waited for) commits it and reports it from its
// destructor: the submitter is answered and eventsCommitted is emitted once more.
// The harness's own receivers of that signal must still be there then.
void tst_Orchestrator::destroyedWithACommitInFlight()
{
    auto answer = std::make_shared<std::optional<SubmitResult>>();
    QVector<OrderEvent> reported;
    {
        EngineHarness h;
        QString error;
        QVERIFY2(h.start(config(), &error), qPrintable(error));
        const QUuid first = h.submit(sampleOrder());
        QVERIFY(h.waitTerminal(first)); // the harness has collected events
        QObject::connect(h.orchestrator.get(), &Orchestrator::eventsCommitted,
                         [&reported](const QVector<OrderEvent> &batch) { reported += batch; });
        h.orchestrator->submit(sampleOrder(), [answer](SubmitResult r) { *answer = r; });
        QVERIFY(!answer->has_value());
        QVERIFY(h.orchestrator->queuedTransitionCount() > 0); // SAGA_STARTED (and its first step) with the committer
    }
    QVERIFY(answer->has_value());
    QVERIFY2((*answer)->error.ok(), qPrintable((*answer)->error.message));
    QVERIFY(!reported.isEmpty());
    QCOMPARE(reported.first().orderId, (*answer)->orderId);
    QCOMPARE_ENUM(reported.first().type, EventType::SagaStarted);
}

// A step taken over after its engine went away ends with details.resumed and
// details.resumedAt (when the engine that took it over called it again), so its
// duration is that call's, not the wait for the lease: in the fold (ETA, charts),
// in the stored durations a console seeds its ETA with, and for the estimator fed
// by the fold. Here engine a stops with its first call out and engine b's clock
// runs 40 s later, as for an engine that waited out a crashed engine's lease
// (tst_crashrecovery::takenOverStepsCountTheirResumedAttempt kills one for real).
void tst_Orchestrator::takenOverStepCountsItsResumedAttempt()
{
    EngineConfig c = config();
    c.engineId = QStringLiteral("engine-a");
    c.stepDelayMs = 60000; // a never gets an answer
    QString error;
    QUuid id;
    QDateTime firstStarted;
    {
        EngineHarness a;
        QVERIFY2(a.start(c, &error), qPrintable(error));
        id = a.submit(sampleOrder());
        QTRY_VERIFY(a.eventsOf(id).size() == 2); // STEP_STARTED committed, call out
        firstStarted = a.eventsOf(id).last().timestamp;
    }
    EngineConfig c2 = c;
    c2.engineId = QStringLiteral("engine-b");
    c2.stepDelayMs = 0;
    c2.clockSkewMs = 40000;
    const QDateTime beforeB = QDateTime::currentDateTimeUtc().addMSecs(c2.clockSkewMs); // on b's clock
    EngineHarness b;
    QVERIFY2(b.start(c2, &error), qPrintable(error));
    auto progress = [&] { return b.orchestrator->store()->loadProgress(id).value; };
    QTRY_VERIFY_WITH_TIMEOUT(progress().overallStatus == OverallStatus::Completed, 30000);
    const QVector<OrderEvent> events = b.orchestrator->store()->loadEvents(id).value;
    QCOMPARE(checkAllFold(events), QString());

    // Only the step that was taken over says so; its output is as ever.
    QDateTime resumedAt;
    for (const OrderEvent &e : events) {
        if (e.type != EventType::StepCompleted)
            continue;
        const bool takenOver = e.step == SagaStep::Inventory;
        QCOMPARE(e.details.value("resumed").toBool(), takenOver);
        QCOMPARE(e.details.contains("resumedAt"), takenOver);
        if (takenOver) {
            QVERIFY(e.details.value("reservationId").toString().startsWith(QStringLiteral("RES-")));
            resumedAt = resumedAttemptStart(e);
            QVERIFY2(resumedAt.isValid(), qPrintable(e.details.value("resumedAt").toString()));
            QVERIFY(resumedAt >= beforeB); // b's call, not a's
        }
    }
    const OrderProgress p = progress();
    const StepProgress &inventory = p.step(SagaStep::Inventory);
    QCOMPARE(inventory.startedAt, firstStarted); // it first started under a
    QCOMPARE(inventory.resumedAt, resumedAt);
    QVERIFY(firstStarted.msecsTo(inventory.completedAt) >= 40000); // the wait ...
    QCOMPARE(inventory.durationMs(), resumedAt.msecsTo(inventory.completedAt)); // ... is not its work
    QVERIFY(inventory.durationMs() < 40000);

    // The stored durations a console seeds its ETA with agree with the fold.
    const auto stored = b.orchestrator->store()->recentStepDurations(10);
    QVERIFY(stored.ok());
    QCOMPARE(stored.value.size(), kStepCount);
    for (const auto &[step, ms] : stored.value)
        QCOMPARE(ms, p.step(step).durationMs());
    // So does the estimator fed by the fold.
    EtaEstimator eta;
    OrderProgress folded(id);
    for (const OrderEvent &e : events)
        eta.observe(folded, folded.apply(e).changes);
    QCOMPARE(eta.sampleCount(SagaStep::Inventory), 1);
    QCOMPARE(eta.p95(SagaStep::Inventory), inventory.durationMs());
}

// An engine that cannot open its database says which and what to check: a SQLite
// file whose folder cannot be made, a PostgreSQL server that does not answer.
// The SQLite file deleted under a running engine (a user clearing demo data): the
// engine pauses as for a database gone away, instead of recording the sagas into
// a file no one can open again or failing them; no new empty file appears.
void tst_Orchestrator::databaseFileDeletedPausesTheEngine()
{
    const EngineConfig c = slowSteps();
    EngineHarness h;
    const QUuid id = startWithASagaMidStep(h, c);
    QVERIFY(!id.isNull());
    for (const QString &suffix : {QString(), QStringLiteral("-wal"), QStringLiteral("-shm")})
        QVERIFY(QFile::remove(c.database.path + suffix));
    // The step answers in 300 ms; its result cannot be recorded.
    QTRY_VERIFY_WITH_TIMEOUT(!h.orchestrator->isDatabaseAvailable(), 10000);
    QCOMPARE(h.availability, QVector<bool>{false});
    const QStringList before = h.typesOf(id);
    QTest::qWait(1500); // reconnect attempts with backoff meanwhile
    QCOMPARE(h.typesOf(id), before);
    QVERIFY2(!before.join(' ').contains(QStringLiteral("STEP_FAILED")), qPrintable(before.join(' ')));
    QVERIFY(!h.orchestrator->isDatabaseAvailable());
    QVERIFY(h.orchestrator->queuedTransitionCount() > 0); // kept, not dropped
    QVERIFY(!QFile::exists(c.database.path));
}

// An order submitted just as the database goes (here the SQLite file is moved
// away; the engine learns it at that order's commit) is refused at once as
// unavailable (saga-server: 503) instead of being held until the file is back,
// and it is not written later, when its client may have given up or sent it
// again. The saga already running is kept and finishes once the file is back.
void tst_Orchestrator::orderSubmittedAsTheDatabaseGoesIsRefused()
{
    const EngineConfig c = slowSteps();
    EngineHarness h;
    const QUuid running = startWithASagaMidStep(h, c);
    QVERIFY(!running.isNull());
    const QString moved = c.database.path + QStringLiteral(".moved");
    QVERIFY(QFile::rename(c.database.path, moved));
    bool answered = false;
    SubmitResult late;
    h.orchestrator->submit(sampleOrder(), [&](SubmitResult r) {
        late = r;
        answered = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(answered, 10000);
    QCOMPARE(int(late.error.kind), int(StoreError::Unavailable));
    QVERIFY(late.orderId.isNull());
    QTRY_VERIFY_WITH_TIMEOUT(!h.orchestrator->isDatabaseAvailable(), 10000);

    QVERIFY(QFile::rename(moved, c.database.path));
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    QVERIFY(h.waitTerminal(running));
    QCOMPARE_ENUM(h.progress(running).overallStatus, OverallStatus::Completed);
    QTRY_COMPARE(h.orchestrator->activeSagaCount(), 0);
    QTest::qWait(500); // nothing else comes
    QSet<QUuid> ordersInLog;
    auto all = h.orchestrator->store()->loadEventsAfterPosition(0, 1000);
    QVERIFY(all.ok());
    for (const OrderEvent &e : std::as_const(all.value))
        ordersInLog.insert(e.orderId);
    QCOMPARE(ordersInLog, QSet<QUuid>{running});
}

// A SQLite file that may not be written when the engine starts (here made so with
// TestServices::setWritable, which stops root too) is opened read-only by SQLite,
// and that connection stays read-only after the file becomes writable: its
// reconnect check (SELECT 1) kept it, and every write kept failing with READ_ONLY.
// Now the engine pauses, names the outage READ_ONLY, refuses new orders as
// unavailable, and once the file is writable opens its connections again and goes
// on: the saga it took over from the last run completes, nothing of the refused
// order is written, nothing twice.
void tst_Orchestrator::fileReadOnlyAtStartIsUsedOnceWritable()
{
    EngineConfig c = slowSteps();
    c.leaseSeconds = 3; // the taken-over saga is claimed within a second of the database's return
    QUuid resumed;
    {
        EngineHarness first;
        resumed = startWithASagaMidStep(first, c);
        QVERIFY(!resumed.isNull());
        first.orchestrator->stop(); // its lease released: the next engine takes the saga over
    }
    QVERIFY(!QFile::exists(c.database.path + QStringLiteral("-wal"))); // all of it in the file
    QString error;
    QVERIFY2(TestServices::setWritable(c.database.path, false, &error), qPrintable(error));
    auto writableAgain = qScopeGuard([&] { TestServices::setWritable(c.database.path, true, nullptr); });

    EngineHarness h;
    QVERIFY2(h.start(c, &error), qPrintable(error)); // reads work; the schema is there
    // Taking the saga over is a write: refused, the outage named.
    QTRY_VERIFY_WITH_TIMEOUT(!h.orchestrator->isDatabaseAvailable(), 10000);
    QCOMPARE(h.outages.value(0), StoreError::Outage::ReadOnly);
    SubmitResult refused;
    bool answered = false;
    h.orchestrator->submit(sampleOrder(), [&](SubmitResult r) {
        refused = r;
        answered = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(answered, 10000);
    QCOMPARE(int(refused.error.kind), int(StoreError::Unavailable));
    QVERIFY2(refused.error.message.contains(QStringLiteral("read-only")), qPrintable(refused.error.message));
    QVERIFY(refused.orderId.isNull());

    QVERIFY2(TestServices::setWritable(c.database.path, true, &error), qPrintable(error));
    writableAgain.dismiss();
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    QCOMPARE(h.availability.last(), true);
    for (StoreError::Outage o : std::as_const(h.outages))
        QCOMPARE(o, StoreError::Outage::ReadOnly); // no other kind of outage on the way

    // The saga taken over completes; its events fold, seq 1..n without a gap or a repeat.
    SagaStore *store = h.orchestrator->store();
    auto stored = [&] { return store->loadEvents(resumed).value; };
    QTRY_VERIFY_WITH_TIMEOUT(!stored().isEmpty() && stored().last().type == EventType::SagaCompleted, 30000);
    const QVector<OrderEvent> events = stored();
    OrderProgress p(resumed);
    for (int i = 0; i < events.size(); ++i) {
        QCOMPARE(events[i].seq, qint64(i + 1));
        const FoldResult r = p.apply(events[i]);
        QVERIFY2(r.outcome != FoldResult::Rejected, qPrintable(r.error));
    }
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::Completed);
    int starts = 0;
    for (const OrderEvent &e : events)
        starts += e.type == EventType::SagaStarted ? 1 : 0;
    QCOMPARE(starts, 1);

    // New orders are taken and complete.
    const QUuid placed = h.submit(sampleOrder());
    QVERIFY(!placed.isNull());
    QVERIFY(h.waitTerminal(placed));
    QCOMPARE_ENUM(h.progress(placed).overallStatus, OverallStatus::Completed);
    QCOMPARE(h.typesOf(placed).size(), 8);
    QTRY_COMPARE(h.orchestrator->activeSagaCount(), 0);
    // The refused order left nothing behind.
    QSet<QUuid> ordersInLog;
    auto all = store->loadEventsAfterPosition(0, 1000);
    QVERIFY(all.ok());
    for (const OrderEvent &e : std::as_const(all.value))
        ordersInLog.insert(e.orderId);
    QCOMPARE(ordersInLog, (QSet<QUuid>{resumed, placed}));
}

// The same with nothing to take over: the engine said nothing until the first order
// (saga-server's health said UP on a file it could not write). It names the outage
// at start, and goes on once the file is writable.
void tst_Orchestrator::fileReadOnlyAtStartIsSaidAtStart()
{
    const EngineConfig c = slowSteps();
    QString error;
    {
        EngineHarness first; // creates the file and its tables, runs nothing
        QVERIFY2(first.start(c, &error), qPrintable(error));
        first.orchestrator->stop();
    }
    QVERIFY2(TestServices::setWritable(c.database.path, false, &error), qPrintable(error));
    auto writableAgain = qScopeGuard([&] { TestServices::setWritable(c.database.path, true, nullptr); });

    EngineHarness h;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    QVERIFY(!h.orchestrator->isDatabaseAvailable());
    QTRY_COMPARE(h.outages, QVector<StoreError::Outage>{StoreError::Outage::ReadOnly});

    QVERIFY2(TestServices::setWritable(c.database.path, true, &error), qPrintable(error));
    writableAgain.dismiss();
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    const QUuid placed = h.submit(sampleOrder());
    QVERIFY(!placed.isNull());
    QVERIFY(h.waitTerminal(placed));
    QCOMPARE_ENUM(h.progress(placed).overallStatus, OverallStatus::Completed);
}

// A real full disk: the SQLite file on a 1 MiB filesystem of its own, orders
// placed one after another (every fourth declined, so that compensations run too)
// while earlier ones are between their steps, until the disk is full. The engine
// names the outage DISK_FULL and refuses the order it could not record as
// unavailable; once space is freed it goes on: every saga it had taken ends,
// recorded once (one SAGA_STARTED, seq 1..n, the events it reported are the ones
// stored), every step effect exactly when its events say, and the refused order
// left nothing behind.
void tst_Orchestrator::diskFullPausesSagasUntilSpaceIsFreed()
{
    TestServices::SmallDisk disk(1 << 20);
    QVERIFY2(disk.isMounted(), qPrintable(disk.error()));
    EngineConfig c = config();
    c.database.path = disk.path() + QStringLiteral("/saga.sqlite");
    c.stepDelayMs = 40;
    c.stepTimeoutMs = 5000;
    c.compensationBudgetMs = 5000;
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));

    QVector<QUuid> accepted;
    std::optional<SubmitResult> refused;
    for (int i = 0; i < 5000 && !refused; ++i) {
        auto answer = std::make_shared<std::optional<SubmitResult>>();
        h.orchestrator->submit(sampleOrder(QStringLiteral("widget-1"),
                                           i % 4 == 3 ? QStringLiteral("declined-card") : QStringLiteral("visa-4242")),
                               [answer](SubmitResult r) { *answer = r; });
        QVERIFY(QTest::qWaitFor([&] { return answer->has_value(); }, 30000));
        if ((*answer)->error.ok())
            accepted.append((*answer)->orderId);
        else
            refused = **answer;
    }
    QVERIFY2(refused, qPrintable(QStringLiteral("5000 orders fit on the disk (%1 bytes free)").arg(disk.freeBytes())));
    QCOMPARE(int(refused->error.kind), int(StoreError::Unavailable));
    QCOMPARE(int(refused->error.outage), int(StoreError::Outage::DiskFull));
    QVERIFY(refused->orderId.isNull());
    QVERIFY(!h.orchestrator->isDatabaseAvailable());
    QCOMPARE(h.outages.value(0), StoreError::Outage::DiskFull);
    QVERIFY2(accepted.size() >= 4, qPrintable(QString::number(accepted.size())));
    int unfinished = 0;
    for (const QUuid &id : std::as_const(accepted))
        unfinished += h.progress(id).isTerminal() ? 0 : 1;
    QVERIFY2(unfinished > 0, "every saga had ended before the disk was full"); // the outage caught sagas mid-way

    QVERIFY2(disk.resize(16 << 20, &error), qPrintable(error));
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->isDatabaseAvailable(), 30000);
    for (int i = 0; i < accepted.size(); ++i) { // all were accepted before the one refused: i is their place
        QVERIFY2(h.waitTerminal(accepted[i]), qPrintable(h.typesOf(accepted[i]).join(QLatin1Char(' '))));
        QCOMPARE_ENUM(h.progress(accepted[i]).overallStatus,
                      i % 4 == 3 ? OverallStatus::RolledBack : OverallStatus::Completed);
    }
    QTRY_COMPARE(h.orchestrator->activeSagaCount(), 0);
    for (StoreError::Outage o : std::as_const(h.outages))
        QCOMPARE(o, StoreError::Outage::DiskFull); // no other kind on the way

    auto stored = h.orchestrator->store()->loadEventsAfterPosition(0, 100000);
    QVERIFY2(stored.ok(), qPrintable(stored.error.message));
    QCOMPARE(stored.value.size(), h.events.size());
    QSet<QUuid> ordersInLog;
    QHash<QUuid, int> starts;
    for (int i = 0; i < stored.value.size(); ++i) {
        const OrderEvent &e = stored.value[i];
        QCOMPARE(e.position, h.events[i].position);
        QCOMPARE(e.orderId, h.events[i].orderId);
        QCOMPARE(e.seq, h.events[i].seq);
        ordersInLog.insert(e.orderId);
        starts[e.orderId] += e.type == EventType::SagaStarted ? 1 : 0;
    }
    QCOMPARE(ordersInLog, QSet<QUuid>(accepted.cbegin(), accepted.cend()));
    for (auto it = starts.cbegin(); it != starts.cend(); ++it)
        QCOMPARE(it.value(), 1);
    QVERIFY2(checkAllFold(stored.value).isEmpty(), qPrintable(checkAllFold(stored.value)));
    const QString executions = checkExecutions(stored.value, h.recorder->requests);
    QVERIFY2(executions.isEmpty(), qPrintable(executions));
    const QString ledger = checkEffectsMatchEvents(*h.simulated, h.recorder->requests, stored.value);
    QVERIFY2(ledger.isEmpty(), qPrintable(ledger));
    qInfo("%lld orders taken, %d of them mid-way when the disk was full", qlonglong(accepted.size()), unfinished);
}

// The SQLite file is damaged while the engine runs, its WAL checkpointed into the
// file first so that the pages are read from it: pages of saga_executions (which
// every commit reads for its lease check) overwritten, or the file's first page, so
// that it no longer reads as a SQLite database. The engine names the outage DAMAGED,
// with what to do, and pauses: the saga between its steps is neither failed nor
// compensated for it (nothing of it is written), new orders are refused as
// unavailable, and it keeps what it holds to record once the file is restored. A
// first page overwritten used to be taken for a refusal of what was written ("not a
// SQLite database", Invalid): the saga's step failed with STORE_REFUSED and was
// dropped, and every new order was refused as invalid (saga-server: 500).
void tst_Orchestrator::fileDamagedWhileRunningPausesTheEngine_data()
{
    QTest::addColumn<bool>("firstPage");
    QTest::newRow("table pages") << false;
    QTest::newRow("first page") << true;
}

void tst_Orchestrator::fileDamagedWhileRunningPausesTheEngine()
{
    QFETCH(bool, firstPage);
    const EngineConfig c = slowSteps();
    EngineHarness h;
    const QUuid id = startWithASagaMidStep(h, c);
    QVERIFY(!id.isNull());
    const QStringList before = h.typesOf(id);

    const QString conn = QStringLiteral("tst-damage");
    int pageSize = 0;
    QVector<int> pages; // of saga_executions and its indexes
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), conn);
        db.setDatabaseName(c.database.path);
        QVERIFY(db.open());
        QSqlQuery q(db);
        QVERIFY2(q.exec(QStringLiteral("PRAGMA wal_checkpoint(TRUNCATE)")), qPrintable(q.lastError().text()));
        QVERIFY(q.next());
        QCOMPARE(q.value(0).toInt(), 0); // not blocked: every page is in the file now
        q.finish();
        QVERIFY(q.exec(QStringLiteral("PRAGMA page_size")) && q.next());
        pageSize = q.value(0).toInt();
        QVERIFY(q.exec(QStringLiteral("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'saga_executions' "
                                      "AND rootpage > 1")));
        while (q.next())
            pages.append(q.value(0).toInt());
        q.finish();
        QVERIFY(!pages.isEmpty());
        QFile file(c.database.path);
        QVERIFY(file.open(QIODevice::ReadWrite));
        if (firstPage) {
            // (The checkpoint has told the engine's connections to read the file again.)
            QCOMPARE(file.write(QByteArray(100, '\xff')), qint64(100)); // the header
        } else {
            for (int page : std::as_const(pages)) {
                QVERIFY(file.seek(qint64(page - 1) * pageSize));
                QCOMPARE(file.write(QByteArray(pageSize, '\xff')), qint64(pageSize));
            }
        }
        file.close();
        // A commit through SQLite that reads none of those pages: the engine's
        // connections see the WAL changed and read the file again instead of the
        // pages they keep in memory (also if they read since the checkpoint).
        if (!firstPage)
            QVERIFY2(q.exec(QStringLiteral("PRAGMA user_version = 7")), qPrintable(q.lastError().text()));
        db.close();
    }
    QSqlDatabase::removeDatabase(conn);

    // The step answers in 300 ms; its result cannot be recorded.
    QTRY_VERIFY_WITH_TIMEOUT(!h.orchestrator->isDatabaseAvailable(), 10000);
    QCOMPARE(h.outages.value(0), StoreError::Outage::Damaged);
    QCOMPARE(h.availability, QVector<bool>{false});
    SubmitResult refused;
    bool answered = false;
    h.orchestrator->submit(sampleOrder(), [&](SubmitResult r) {
        refused = r;
        answered = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(answered, 10000);
    QCOMPARE(int(refused.error.kind), int(StoreError::Unavailable));
    QVERIFY2(refused.error.message.contains(QStringLiteral("damaged")), qPrintable(refused.error.message));
    QVERIFY2(refused.error.message.contains(QStringLiteral("Restore it from a backup")), qPrintable(refused.error.message));
    // Reconnect attempts with backoff meanwhile; the commit tried again each time
    // fails the same way.
    QTRY_VERIFY_WITH_TIMEOUT(h.orchestrator->queuedTransitionCount() > 0, 10000);
    QTest::qWait(1500);
    QCOMPARE(h.typesOf(id), before);
    QVERIFY(!h.orchestrator->isDatabaseAvailable());
    for (StoreError::Outage o : std::as_const(h.outages))
        QCOMPARE(o, StoreError::Outage::Damaged);
    QVERIFY(h.orchestrator->queuedTransitionCount() > 0); // kept, not dropped
    QCOMPARE(h.orchestrator->activeSagaCount(), 1);
}

void tst_Orchestrator::databaseThatCannotBeOpened()
{
    const QString blocker = TestServices::tempDir() + QStringLiteral("/not-a-folder");
    QFile file(blocker);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.close();
    EngineConfig sqlite = config();
    sqlite.database = DatabaseUrl::defaultSqlite();
    sqlite.database.path = blocker + QStringLiteral("/sagas.sqlite");
    {
        Orchestrator o(sqlite, nullptr);
        QString error;
        QVERIFY(!o.initialize(&error));
        QVERIFY2(error.startsWith(QStringLiteral("Cannot open the database file ") + sqlite.database.path), qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("folder exists and is writable")), qPrintable(error));
    }
    // A file that is not SQLite's: said so, and not a byte of it changed.
    const QString foreign = TestServices::tempDir() + QStringLiteral("/notes.sqlite");
    QByteArray bytes(64 * 1024, '\0');
    for (int i = 0; i < bytes.size(); ++i)
        bytes[i] = char((i * 131 + 7) & 0xff);
    QFile foreignFile(foreign);
    QVERIFY(foreignFile.open(QIODevice::WriteOnly));
    QCOMPARE(foreignFile.write(bytes), qint64(bytes.size()));
    foreignFile.close();
    EngineConfig notSqlite = config();
    notSqlite.database = DatabaseUrl::defaultSqlite();
    notSqlite.database.path = foreign;
    {
        Orchestrator o(notSqlite, nullptr);
        QString error;
        QVERIFY(!o.initialize(&error));
        QVERIFY2(error.startsWith(QStringLiteral("Cannot use the database file ") + foreign), qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("the file is not a SQLite database")), qPrintable(error));
        QVERIFY2(!error.contains(QStringLiteral("writable")), qPrintable(error)); // not a permissions problem
    }
    QVERIFY(foreignFile.open(QIODevice::ReadOnly));
    QCOMPARE(foreignFile.readAll(), bytes);
    foreignFile.close();

    QString parseError;
    EngineConfig pg = config();
    // A loopback port nothing listens on (the port of a socket just closed).
    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
    const quint16 port = probe.serverPort();
    probe.close();
    const auto url = DatabaseUrl::parse(QStringLiteral("postgresql://postgres@127.0.0.1:%1/sagas").arg(port), &parseError);
    QVERIFY2(url, qPrintable(parseError));
    pg.database = *url;
    {
        Orchestrator o(pg, nullptr);
        QString error;
        QVERIFY(!o.initialize(&error));
        QVERIFY2(error.startsWith(QStringLiteral("Cannot connect to the database postgresql://")), qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("check that it is running")), qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("Connection refused")), qPrintable(error)); // the reason itself
        QVERIFY2(!error.contains(QLatin1Char('\n')) && !error.contains(QStringLiteral("QPSQL")), qPrintable(error));
    }
}

// SQLite files an engine cannot run on are named for what they are, with what to
// do: another program's database (its tables, and nothing written to it); a damaged
// file (restore it from a backup); not "check that its folder exists".
void tst_Orchestrator::sqliteFilesThatCannotServeAreNamed()
{
    const QString notes = TestServices::tempDir() + QStringLiteral("/another-program.sqlite");
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("another-program"));
        db.setDatabaseName(notes);
        QVERIFY(db.open());
        QSqlQuery q(db);
        QVERIFY(q.exec(QStringLiteral("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")));
        QVERIFY(q.exec(QStringLiteral("INSERT INTO notes (body) VALUES ('keep me')")));
        q.finish();
        db.close();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("another-program"));
    QFile notesFile(notes);
    QVERIFY(notesFile.open(QIODevice::ReadOnly));
    const QByteArray before = notesFile.readAll();
    notesFile.close();
    EngineConfig c = config();
    c.database.path = notes;
    {
        Orchestrator o(c, nullptr);
        QString error;
        QVERIFY(!o.initialize(&error));
        QVERIFY2(error.startsWith(QStringLiteral("Cannot use the database file ") + notes), qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("another program's tables (notes)")), qPrintable(error));
    }
    QVERIFY(notesFile.open(QIODevice::ReadOnly));
    QCOMPARE(notesFile.readAll(), before); // not a table added, not even WAL mode
    notesFile.close();

    // A saga database cut to half its size (a copy that stopped early).
    EngineConfig damaged = config();
    {
        EngineHarness h;
        QString error;
        QVERIFY2(h.start(damaged, &error), qPrintable(error));
        for (int i = 0; i < 20; ++i)
            QVERIFY(!h.submit(sampleOrder()).isNull());
        QTRY_VERIFY_WITH_TIMEOUT(h.events.size() == 20 * 8, 30000);
    } // the last connection checkpoints the WAL into the file
    QFile file(damaged.database.path);
    QVERIFY(!QFile::exists(damaged.database.path + QStringLiteral("-wal")));
    QVERIFY(file.size() > 8 * 4096);
    QVERIFY(file.resize(file.size() / 2));
    {
        Orchestrator o(damaged, nullptr);
        QString error;
        QVERIFY(!o.initialize(&error));
        QVERIFY2(error.startsWith(QStringLiteral("The database file ") + damaged.database.path + QStringLiteral(" is damaged")),
                 qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("restore it from a backup")), qPrintable(error));
    }
}

// The scenario of storerefusal.h on a SQLite file.
void tst_Orchestrator::storeRefusalEndsTheSagaVisibly()
{
    const EngineConfig c = config();
    EngineHarness h;
    QString error;
    QVERIFY2(h.start(c, &error), qPrintable(error));
    checkStoreRefusalEndsSagasVisibly(h, c.database);
}

void tst_Orchestrator::engineHost()
{
    EngineHost host(config());
    QSignalSpy started(&host, &EngineHost::started);
    QSignalSpy failed(&host, &EngineHost::startFailed);
    QSignalSpy committed(&host, &EngineHost::eventsCommitted);
    QVERIFY(started.isValid());
    QVERIFY(committed.isValid());
    host.start();
    QTRY_VERIFY_WITH_TIMEOUT(started.count() == 1 || failed.count() == 1, 20000);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().first().toString()));
    QVERIFY(host.isRunning());

    FaultPlan plan;
    plan[SagaStep::Payment].kind = StepFault::Kind::Fail;
    host.setFaultPlan(plan);
    QCOMPARE(host.faultPlan(), plan);

    QObject context;
    SubmitResult result;
    bool answered = false;
    QThread *callbackThread = nullptr;
    host.submitOrder(sampleOrder(), &context, [&](SubmitResult r) {
        result = r;
        answered = true;
        callbackThread = QThread::currentThread();
    });
    QTRY_VERIFY_WITH_TIMEOUT(answered, 20000);
    QVERIFY2(result.error.ok(), qPrintable(result.error.message));
    QCOMPARE(callbackThread, QThread::currentThread());
    QVector<OrderEvent> all;
    QTRY_VERIFY_WITH_TIMEOUT(([&] {
                                 all.clear();
                                 for (const QList<QVariant> &args : std::as_const(committed))
                                     all += args.first().value<QVector<OrderEvent>>();
                                 return !all.isEmpty() && all.last().type == EventType::SagaFailed;
                             }()),
                             20000);
    QCOMPARE(checkAllFold(all), QString());

    RetryEligibility eligibility;
    answered = false;
    host.retryEligibility(result.orderId, &context, [&](RetryEligibility e, StoreError) {
        eligibility = e;
        answered = true;
    });
    QTRY_VERIFY(answered);
    QVERIFY(eligibility.eligible);
    RetryDecision decision;
    answered = false;
    RetryRequest req;
    req.orderId = result.orderId;
    host.retryOrder(req, &context, [&](RetryDecision d) {
        decision = d;
        answered = true;
    });
    QTRY_VERIFY(answered);
    QCOMPARE(int(decision.code), int(RetryDecision::Accepted));

    // A destroyed context gets no callback.
    {
        auto gone = std::make_unique<QObject>();
        bool called = false;
        host.submitOrder(sampleOrder(), gone.get(), [&](SubmitResult) { called = true; });
        gone.reset();
        QTest::qWait(300);
        QVERIFY(!called);
    }

    bool shutDown = false;
    host.shutdown(5000, [&] { shutDown = true; });
    QTRY_VERIFY_WITH_TIMEOUT(shutDown, 20000);
    QVERIFY(!host.isRunning());
}

QTEST_GUILESS_MAIN(tst_Orchestrator)
#include "tst_orchestrator.moc"
