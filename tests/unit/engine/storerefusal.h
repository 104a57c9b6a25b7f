#pragma once

// A transition the database refuses for what it carries (a constraint, a column
// limit, text it cannot keep; here a trigger) must not leave a saga half done:
// a refused step result becomes that step's STORE_REFUSED failure, that step and
// the ones before it are reversed, and the saga ends ROLLED_BACK; a refused
// completion is recorded without the service's delivery estimate. Shared by the
// SQLite (tst_orchestrator) and PostgreSQL (tst_engineonpostgres) runs.

#include "databaseurl.h"
#include "enginetesthelpers.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

// Triggers on order_events that refuse: the payment result of orders paid with
// "visa-refused", and any SAGA_COMPLETED that carries an estimatedDelivery.
inline QStringList refusingTriggers(const DatabaseUrl &url)
{
    if (url.isPostgres())
        return {QStringLiteral(
                    "CREATE FUNCTION refuse_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.event_type = 'STEP_COMPLETED' AND NEW.step_name = 'Payment Processing' "
                    "AND (SELECT payment_method_id FROM orders WHERE id = NEW.order_id) = 'visa-refused' THEN "
                    "RAISE EXCEPTION 'payment results are refused'; END IF; "
                    "IF NEW.event_type = 'SAGA_COMPLETED' AND NEW.details::jsonb ? 'estimatedDelivery' THEN "
                    "RAISE EXCEPTION 'delivery estimates are refused'; END IF; "
                    "RETURN NEW; END $$"),
                QStringLiteral("CREATE TRIGGER refuse_for_test BEFORE INSERT ON order_events "
                               "FOR EACH ROW EXECUTE FUNCTION refuse_for_test()")};
    return {QStringLiteral("CREATE TRIGGER refuse_payment_result BEFORE INSERT ON order_events "
                           "WHEN NEW.event_type = 'STEP_COMPLETED' AND NEW.step_name = 'Payment Processing' "
                           "AND (SELECT payment_method_id FROM orders WHERE id = NEW.order_id) = 'visa-refused' "
                           "BEGIN SELECT RAISE(ABORT, 'payment results are refused'); END"),
            QStringLiteral("CREATE TRIGGER refuse_delivery_estimate BEFORE INSERT ON order_events "
                           "WHEN NEW.event_type = 'SAGA_COMPLETED' AND NEW.details LIKE '%estimatedDelivery%' "
                           "BEGIN SELECT RAISE(ABORT, 'delivery estimates are refused'); END")};
}

// Runs the scenario on an engine `h` started on `url` (QVERIFY failures return early).
inline void checkStoreRefusalEndsSagasVisibly(EngineHarness &h, const DatabaseUrl &url)
{
    {
        QSqlDatabase db = url.addConnection(QStringLiteral("refusing"));
        QVERIFY2(db.open(), qPrintable(db.lastError().text()));
        QSqlQuery q(db);
        for (const QString &sql : refusingTriggers(url))
            QVERIFY2(q.exec(sql), qPrintable(q.lastError().text()));
        db.close();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("refusing"));

    const QUuid refused = h.submit(sampleOrder(QStringLiteral("widget-1"), QStringLiteral("visa-refused")));
    QVERIFY(!refused.isNull());
    QVERIFY(h.waitTerminal(refused));
    QCOMPARE(h.typesOf(refused),
             QStringList({"SAGA_STARTED", "STEP_STARTED:Inventory", "STEP_COMPLETED:Inventory", "STEP_STARTED:Payment",
                          "STEP_FAILED:Payment", "COMPENSATION_STARTED", "COMPENSATION_STARTED:Inventory",
                          "STEP_COMPENSATED:Inventory", "SAGA_FAILED"}));
    QString rejected;
    const OrderProgress p = h.progress(refused, &rejected);
    QVERIFY2(rejected.isEmpty(), qPrintable(rejected));
    QCOMPARE_ENUM(p.overallStatus, OverallStatus::RolledBack);
    QCOMPARE(p.failure.code, QStringLiteral("STORE_REFUSED"));
    QVERIFY2(p.failure.message.contains(QLatin1String("Payment Processing's result")), qPrintable(p.failure.message));
    const OrderEvent failed = h.eventsOf(refused).at(4);
    QCOMPARE(failed.details.value("phase").toString(), QStringLiteral("FORWARD"));
    QCOMPARE(failed.details.value("refusedEvent").toString(), QStringLiteral("STEP_COMPLETED"));
    // The payment took effect: its reversal is owed on record and done before the
    // inventory's (not one unrecorded call on the side).
    QVERIFY(failed.details.value("reversalOwed").toBool());
    const OrderEvent rollback = h.eventsOf(refused).at(5);
    QCOMPARE(rollback.details.value("uncertainStep").toString(), QStringLiteral("Payment Processing"));
    QVERIFY(rollback.details.value("uncertainStepReversed").toBool());
    // The payment took effect but its result could not be kept: it is voided too.
    QCOMPARE(requestsSummary(h.recorder, refused), QStringList({"Inventory+", "Payment+", "Payment-", "Inventory-"}));
    for (const StepRequest &r : h.recorder->requests) {
        if (r.orderId == refused && r.action == StepAction::Forward)
            QTRY_COMPARE(h.simulated->reversalCount(r.idempotencyKey), 1);
    }
    auto order = h.orchestrator->store()->loadOrder(refused);
    QVERIFY(order.ok());
    QCOMPARE_ENUM(order.value.status, recordStatusFor(OverallStatus::RolledBack));
    auto stored = h.orchestrator->store()->loadProgress(refused);
    QVERIFY(stored.ok());
    QCOMPARE_ENUM(stored.value.overallStatus, OverallStatus::RolledBack);
    QCOMPARE(stored.value.step(SagaStep::Payment).errorCode, QStringLiteral("STORE_REFUSED"));
    // A retry is offered (the cause may be mended).
    const RetryEligibility eligible = h.eligibility(refused);
    QVERIFY2(eligible.eligible, qPrintable(eligible.reason));

    // Every other saga completes, its end recorded without the delivery estimate.
    const QUuid completed = h.submit(sampleOrder());
    QVERIFY(h.waitTerminal(completed));
    const OrderEvent last = h.eventsOf(completed).last();
    QCOMPARE_ENUM(last.type, EventType::SagaCompleted);
    QVERIFY(last.details.value("confirmationNumber").toString().startsWith("CNF-"));
    QVERIFY(!last.details.contains("estimatedDelivery"));
    order = h.orchestrator->store()->loadOrder(completed);
    QVERIFY(order.ok());
    QCOMPARE_ENUM(order.value.status, OrderRecordStatus::Completed);
    QCOMPARE(order.value.confirmationNumber, last.details.value("confirmationNumber").toString());
    QCOMPARE(checkAllFold(h.events, PositionOrder::PerOrder), QString());
    QTRY_COMPARE(h.orchestrator->activeSagaCount(), 0);
}
