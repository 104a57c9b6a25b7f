#include "failurecatalog.h"
#include "orderhistory.h"
#include "sagajson.h"
#include "sagascenarios.h"

#include <QtTest>

using namespace SagaScenarios;

Q_DECLARE_METATYPE(SagaScenarios::Kind)

namespace {
const QUuid kOrder = QUuid::fromString(QStringLiteral("550e8400-e29b-41d4-a716-446655440000"));

QStringList titles(const OrderHistory &h)
{
    QStringList out;
    for (const TimelineEntry &t : h.timeline)
        out << t.title;
    return out;
}

QStringList statuses(const OrderHistory &h)
{
    QStringList out;
    for (const TimelineEntry &t : h.timeline)
        out << toString(t.status);
    return out;
}

// The lines titled `title`, in timeline order; lineTitled(): the first (null when none).
QVector<const TimelineEntry *> linesTitled(const OrderHistory &h, const QString &title)
{
    QVector<const TimelineEntry *> out;
    for (const TimelineEntry &t : h.timeline) {
        if (t.title == title)
            out.append(&t);
    }
    return out;
}

const TimelineEntry *lineTitled(const OrderHistory &h, const QString &title)
{
    const QVector<const TimelineEntry *> lines = linesTitled(h, title);
    return lines.isEmpty() ? nullptr : lines.first();
}
} // namespace

class tst_OrderHistory : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void timeline_data();
    void timeline();
    void executions_data();
    void executions();
    void errorsCarrySuggestedAction();
    void adviceAsksOnlyWhatARetryCanChange();
    void failureAdviceAgreesWithTheEnd_data();
    void failureAdviceAgreesWithTheEnd();
    void injectedFailureNeedsNoCorrection_data();
    void injectedFailureNeedsNoCorrection();
    void retryLineSaysWhatWasCorrected();
    void compensationAfterFailedAttempts();
    void compensationResumedAtItsFirstCall();
    void uncertainStepReversal_data();
    void uncertainStepReversal();
    void paymentForAnotherAmountIsVoided();
    void stepNamesAndTimestamps();
    void takenOverStepSaysItWasResumed();
    void inputOrderDoesNotMatter();
    void unrecognizedEventIsALineOfItsOwn();
    void inProgressOrder();
    void emptyInput();
    void timelineStatusStrings();
};

void tst_OrderHistory::timeline_data()
{
    QTest::addColumn<Kind>("kind");
    QTest::addColumn<QStringList>("titles");
    QTest::addColumn<QStringList>("statuses");
    QTest::addColumn<QString>("finalStatus");

    QTest::newRow("success") << Kind::Success
                             << QStringList{"Order Placed", "Inventory Reserved", "Payment Processed",
                                            "Shipping Arranged", "Order Complete"}
                             << QStringList{"NEUTRAL", "SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"}
                             << "COMPLETED";
    QTest::newRow("first step fails")
        << Kind::InventoryFails
        << QStringList{"Order Placed", "Inventory Failed", "Payment Skipped", "Shipping Skipped",
                       "Order Could Not Be Completed"}
        << QStringList{"NEUTRAL", "FAILED", "SKIPPED", "SKIPPED", "FAILED"} << "FAILED";
    QTest::newRow("compensation")
        << Kind::PaymentFails
        << QStringList{"Order Placed", "Inventory Reserved", "Payment Failed", "Shipping Skipped",
                       "Reversing Completed Steps", "Inventory Released", "Order Could Not Be Completed"}
        << QStringList{"NEUTRAL", "SUCCESS", "FAILED", "SKIPPED", "NEUTRAL", "COMPENSATED", "FAILED"}
        << "ROLLED_BACK";
    QTest::newRow("shipping fails, two compensations")
        << Kind::ShippingFails
        << QStringList{"Order Placed", "Inventory Reserved", "Payment Processed", "Shipping Failed",
                       "Reversing Completed Steps", "Payment Voided", "Inventory Released",
                       "Order Could Not Be Completed"}
        << QStringList{"NEUTRAL", "SUCCESS", "SUCCESS", "FAILED", "NEUTRAL", "COMPENSATED",
                       "COMPENSATED", "FAILED"}
        << "ROLLED_BACK";
    QTest::newRow("failed compensation")
        << Kind::CompensationFails
        << QStringList{"Order Placed", "Inventory Reserved", "Payment Failed", "Shipping Skipped",
                       "Reversing Completed Steps", "Inventory Release Failed",
                       "Order Could Not Be Completed"}
        << QStringList{"NEUTRAL", "SUCCESS", "FAILED", "SKIPPED", "NEUTRAL", "FAILED", "FAILED"}
        << "FAILED";
    QTest::newRow("retried order")
        << Kind::RetryThenSuccess
        << QStringList{"Order Placed", "Inventory Reserved", "Payment Failed", "Shipping Skipped",
                       "Reversing Completed Steps", "Inventory Released", "Order Could Not Be Completed",
                       "Retry Started", "Inventory Reserved", "Payment Processed", "Shipping Arranged",
                       "Order Complete"}
        << QStringList{"NEUTRAL", "SUCCESS", "FAILED", "SKIPPED", "NEUTRAL", "COMPENSATED", "FAILED",
                       "NEUTRAL", "SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"}
        << "COMPLETED";
}

// A retry's SAGA_STARTED records its corrections; the customer's line says which
// (not the values: the timeline is what a customer reads).
void tst_OrderHistory::retryLineSaysWhatWasCorrected()
{
    const QJsonObject payment{{"previous", "declined-card"}, {"corrected", "visa-2"}};
    const QJsonObject address{{"previous", QJsonObject{{"postalCode", "00000"}}},
                              {"corrected", QJsonObject{{"postalCode", "62702"}}}};
    const QList<QPair<QJsonObject, QString>> cases{
        {QJsonObject{}, "We are trying your order again (attempt 2)."},
        {QJsonObject{{"paymentMethodId", payment}}, "We are trying your order again (attempt 2) with your new payment method."},
        {QJsonObject{{"shippingAddress", address}}, "We are trying your order again (attempt 2) with your new shipping address."},
        {QJsonObject{{"paymentMethodId", payment}, {"shippingAddress", address}},
         "We are trying your order again (attempt 2) with your new payment method and shipping address."}};
    for (const auto &[corrections, expected] : cases) {
        QVector<OrderEvent> events = scenario(Kind::RetryThenSuccess, kOrder);
        int retries = 0;
        for (OrderEvent &e : events) {
            if (e.type == EventType::SagaStarted && e.details.value("attemptNumber").toInt() == 2) {
                if (!corrections.isEmpty())
                    e.details.insert("corrections", corrections);
                ++retries;
            }
        }
        QCOMPARE(retries, 1);
        const OrderHistory h = HistoryBuilder::build(events);
        const TimelineEntry *line = lineTitled(h, QStringLiteral("Retry Started"));
        QVERIFY(line);
        QCOMPARE(line->description, expected);
    }
}

void tst_OrderHistory::timeline()
{
    QFETCH(Kind, kind);
    QFETCH(QStringList, titles);
    QFETCH(QStringList, statuses);
    QFETCH(QString, finalStatus);
    const QVector<OrderEvent> events = scenario(kind, kOrder);
    const OrderHistory h = HistoryBuilder::build(events);
    QCOMPARE(::titles(h), titles);
    QCOMPARE(::statuses(h), statuses);
    QCOMPARE(h.finalStatus, finalStatus);
    QCOMPARE(h.orderId, kOrder);
    QCOMPARE(h.orderNumber, QStringLiteral("ORD-20240110-000001"));
    QCOMPARE(h.createdAt, events.first().timestamp);
    QCOMPARE(h.completedAt, events.last().timestamp);
    for (const TimelineEntry &t : h.timeline) {
        QVERIFY2(!t.description.isEmpty(), qPrintable(t.title));
        QVERIFY2(!t.description.contains(QLatin1Char('_')), qPrintable(t.description)); // no codes
        QVERIFY(t.timestamp.isValid());
    }
}

void tst_OrderHistory::executions_data()
{
    QTest::addColumn<Kind>("kind");
    QTest::addColumn<QStringList>("outcomes");
    QTest::addColumn<QVector<int>>("stepsCompleted");
    QTest::addColumn<QVector<int>>("failedSteps"); // -1 none
    QTest::newRow("success") << Kind::Success << QStringList{"SUCCESS"} << QVector<int>{3} << QVector<int>{-1};
    QTest::newRow("first step fails") << Kind::InventoryFails << QStringList{"FAILED"} << QVector<int>{0}
                                      << QVector<int>{0};
    QTest::newRow("compensation") << Kind::PaymentFails << QStringList{"COMPENSATED"} << QVector<int>{1}
                                  << QVector<int>{1};
    QTest::newRow("failed compensation") << Kind::CompensationFails << QStringList{"FAILED"}
                                         << QVector<int>{1} << QVector<int>{1};
    QTest::newRow("retried") << Kind::RetryThenSuccess << QStringList{"COMPENSATED", "SUCCESS"}
                             << QVector<int>{1, 3} << QVector<int>{1, -1};
}

void tst_OrderHistory::executions()
{
    QFETCH(Kind, kind);
    QFETCH(QStringList, outcomes);
    QFETCH(QVector<int>, stepsCompleted);
    QFETCH(QVector<int>, failedSteps);
    const QVector<OrderEvent> events = scenario(kind, kOrder);
    const OrderHistory h = HistoryBuilder::build(events);
    QCOMPARE(h.executionCount(), outcomes.size());
    for (int i = 0; i < outcomes.size(); ++i) {
        const ExecutionSummary &x = h.executions[i];
        QCOMPARE(x.outcome, outcomes[i]);
        QCOMPARE(x.attemptNumber, i + 1);
        QCOMPARE(x.isRetry, i > 0);
        QCOMPARE(x.executionId, QStringLiteral("exec-%1").arg(i + 1));
        QCOMPARE(x.stepsCompleted, stepsCompleted[i]);
        QCOMPARE(x.failedStep ? int(*x.failedStep) : -1, failedSteps[i]);
        QVERIFY(x.startedAt.isValid());
        QVERIFY(x.completedAt > x.startedAt);
    }
    if (outcomes.size() == 2)
        QVERIFY(h.executions[1].startedAt > h.executions[0].completedAt);
}

void tst_OrderHistory::errorsCarrySuggestedAction()
{
    const OrderHistory h = HistoryBuilder::build(scenario(Kind::PaymentFails, kOrder));
    const TimelineEntry *it = lineTitled(h, QStringLiteral("Payment Failed"));
    QVERIFY(it);
    QVERIFY(it->error.has_value());
    QCOMPARE(it->error->code, QStringLiteral("PAYMENT_DECLINED"));
    QCOMPARE(it->error->message, QStringLiteral("Payment declined"));
    QCOMPARE(it->error->suggestedAction, QStringLiteral("Update your payment method and retry the order."));
    QCOMPARE(it->description, QStringLiteral("Your payment was declined."));
    QCOMPARE(it->step, std::optional<SagaStep>(SagaStep::Payment));
    // The final entry names the cause too.
    QVERIFY(h.timeline.last().error.has_value());
    QCOMPARE(h.timeline.last().error->code, QStringLiteral("PAYMENT_DECLINED"));
    // Successful entries carry no error.
    QVERIFY(!h.timeline.first().error.has_value());

    const OrderHistory c = HistoryBuilder::build(scenario(Kind::CompensationFails, kOrder));
    const TimelineEntry *comp = lineTitled(c, QStringLiteral("Inventory Release Failed"));
    QVERIFY(comp);
    QCOMPARE(comp->error->code, QStringLiteral("COMPENSATION_FAILED"));
    QVERIFY(!comp->error->suggestedAction.isEmpty());
}

namespace {
enum class Ending { FirstDecline, CompensationIncomplete, VoidGivenUp, LastAttemptDeclined, LastAttemptIncomplete,
                    LastAttemptFraud };

// `attempts` attempts of one order, each declined at the payment and rolled back
// (the last one as `ending` says, its failure injected from the Failure Injection
// panel when `injected`), as the engine records them.
QVector<OrderEvent> endedWith(Ending ending, int attempts, bool injected = false)
{
    Builder b(kOrder);
    for (int attempt = 1; attempt < attempts; ++attempt)
        appendKind(b, Kind::PaymentFails, attempt);
    b.started(attempts);
    b.stepOk(SagaStep::Inventory);
    const QString code = ending == Ending::VoidGivenUp ? QStringLiteral("STEP_TIMEOUT")
                         : ending == Ending::LastAttemptFraud ? QStringLiteral("FRAUD_DETECTED")
                                                              : QStringLiteral("PAYMENT_DECLINED");
    QJsonObject forward{{QStringLiteral("phase"), QStringLiteral("FORWARD")}};
    if (ending == Ending::VoidGivenUp)
        forward.insert(QStringLiteral("reversalOwed"), true);
    if (injected)
        forward.insert(QStringLiteral("injected"), true);
    b.add(EventType::StepStarted, SagaStep::Payment);
    b.add(EventType::StepFailed, SagaStep::Payment, forward, ErrorInfo{code, QStringLiteral("Payment failed")});
    const ErrorInfo incomplete{QStringLiteral("COMPENSATION_FAILED"),
                               QStringLiteral("compensation incomplete: Inventory service refused the release")};
    QJsonObject end{{QStringLiteral("failedStep"), QStringLiteral("Payment Processing")},
                    {QStringLiteral("failureCode"), code}};
    switch (ending) {
    case Ending::CompensationIncomplete:
    case Ending::LastAttemptIncomplete:
        b.add(EventType::CompensationStarted);
        b.add(EventType::CompensationStarted, SagaStep::Inventory);
        b.add(EventType::StepFailed, SagaStep::Inventory, {{QStringLiteral("phase"), QStringLiteral("COMPENSATION")}},
              ErrorInfo{QStringLiteral("COMPENSATION_FAILED"), QStringLiteral("Inventory service refused the release")});
        end.insert(QStringLiteral("compensationIncomplete"), true);
        b.add(EventType::SagaFailed, std::nullopt, end, incomplete);
        break;
    case Ending::VoidGivenUp:
        // The payment's call did not answer; its void gave up: the rollback says so,
        // the inventory is released, the end is incomplete.
        b.add(EventType::CompensationStarted, std::nullopt,
              {{QStringLiteral("uncertainStep"), QStringLiteral("Payment Processing")},
               {QStringLiteral("uncertainStepReversed"), false},
               {QStringLiteral("uncertainStepAttempts"), 15}});
        b.compensate(SagaStep::Inventory);
        end.insert(QStringLiteral("compensationIncomplete"), true);
        b.add(EventType::SagaFailed, std::nullopt, end,
              ErrorInfo{QStringLiteral("COMPENSATION_FAILED"), QStringLiteral("compensation incomplete")});
        break;
    default:
        b.add(EventType::CompensationStarted);
        b.compensate(SagaStep::Inventory);
        end.insert(QStringLiteral("compensationIncomplete"), false);
        b.add(EventType::SagaFailed, std::nullopt, end, ErrorInfo{code, QStringLiteral("Payment failed")});
        break;
    }
    return b.events();
}

} // namespace

// A retry may correct the payment method and the shipping address, nothing else.
// The advice for an out-of-stock order said "Remove the unavailable items ... then
// retry the order", which no retry can do: an agent following it used up an
// attempt on the same failure. Advice that asks for a correction asks only for
// one a retry takes (its required actions), and the out-of-stock advice offers
// what can be done: wait for the stock, or a new order without the items.
void tst_OrderHistory::adviceAsksOnlyWhatARetryCanChange()
{
    for (const char *code : {"INVENTORY_UNAVAILABLE", "PAYMENT_DECLINED", "FRAUD_DETECTED", "INVALID_ADDRESS",
                             "SHIPPING_UNAVAILABLE", "STEP_TIMEOUT", "SERVICE_UNAVAILABLE", "STORE_REFUSED",
                             "PAYMENT_AMOUNT_MISMATCH", "COMPENSATION_FAILED", "SOMETHING_ELSE"}) {
        const FailureInfo info = failureInfo(QString::fromLatin1(code));
        const QString advice = info.suggestedAction;
        QVERIFY2(!advice.contains(QLatin1String("item"), Qt::CaseInsensitive)
                     || !advice.contains(QLatin1String("retry"), Qt::CaseInsensitive)
                     || advice.contains(QLatin1String("new order")),
                 qPrintable(QStringLiteral("%1: %2").arg(QLatin1String(code), advice)));
        QVERIFY2(!advice.contains(QLatin1String("Remove"), Qt::CaseInsensitive), qPrintable(advice));
        if (advice.contains(QLatin1String("payment method")))
            QVERIFY2(info.requiredActions.contains(QStringLiteral("UPDATE_PAYMENT_METHOD")), code);
        if (advice.contains(QLatin1String("address")))
            QVERIFY2(info.requiredActions.contains(QStringLiteral("UPDATE_SHIPPING_ADDRESS")), code);
    }
    const QString outOfStock = failureInfo(QStringLiteral("INVENTORY_UNAVAILABLE")).suggestedAction;
    QVERIFY2(outOfStock.contains(QLatin1String("back in stock")) && outOfStock.contains(QLatin1String("new order")),
             qPrintable(outOfStock));
}

void tst_OrderHistory::failureAdviceAgreesWithTheEnd_data()
{
    QTest::addColumn<int>("ending");
    QTest::addColumn<int>("attempts");
    QTest::addColumn<QString>("failedAdvice"); // the last attempt's "Payment Failed" line
    QTest::addColumn<QString>("finalAdvice");  // its "Order Could Not Be Completed" line
    const QString update = QStringLiteral("Update your payment method and retry the order.");
    const QString support = failureInfo(QStringLiteral("COMPENSATION_FAILED")).suggestedAction;
    const QString usedUp = retriesUsedUpAction();
    QTest::newRow("first decline, rolled back") << int(Ending::FirstDecline) << 1 << update << update;
    QTest::newRow("third attempt (second retry) declined") << int(Ending::FirstDecline) << 3 << update << update;
    QTest::newRow("declined, compensation incomplete") << int(Ending::CompensationIncomplete) << 1 << support
                                                       << support;
    QTest::newRow("unanswered payment, void given up") << int(Ending::VoidGivenUp) << 1 << support << support;
    QTest::newRow("fourth attempt (third retry) declined") << int(Ending::LastAttemptDeclined) << 1 + kMaxRetries
                                                           << usedUp << usedUp;
    QTest::newRow("fourth attempt, compensation incomplete")
        << int(Ending::LastAttemptIncomplete) << 1 + kMaxRetries << support << support;
    QTest::newRow("fourth attempt, never retryable")
        << int(Ending::LastAttemptFraud) << 1 + kMaxRetries
        << failureInfo(QStringLiteral("FRAUD_DETECTED")).suggestedAction
        << failureInfo(QStringLiteral("FRAUD_DETECTED")).suggestedAction;
}

// The probe: a declined payment whose compensation then ended incomplete, and a
// declined payment in the last allowed attempt (the third retry), each read
// "Payment Failed ... Update your payment method and retry the order." above the
// end that says support must act (eligibility: non-retryable; maximum retry
// attempts exceeded). The failure's line agrees with the attempt's end, as the
// order's own answer does (RetryPolicy::failureAdvice); the earlier attempts' lines
// keep the advice that was followed, and a plain decline still advises a new
// payment method.
void tst_OrderHistory::failureAdviceAgreesWithTheEnd()
{
    QFETCH(int, ending);
    QFETCH(int, attempts);
    QFETCH(QString, failedAdvice);
    QFETCH(QString, finalAdvice);
    const QVector<OrderEvent> events = endedWith(Ending(ending), attempts);
    const OrderHistory h = HistoryBuilder::build(events);
    QCOMPARE(h.executionCount(), attempts);
    QCOMPARE(h.timeline.last().title, QStringLiteral("Order Could Not Be Completed"));

    const auto failed = linesTitled(h, QStringLiteral("Payment Failed"));
    QCOMPARE(failed.size(), attempts);
    for (int i = 0; i < attempts - 1; ++i) { // the attempts that were retried
        QVERIFY(failed.at(i)->error);
        QCOMPARE(failed.at(i)->error->suggestedAction, QStringLiteral("Update your payment method and retry the order."));
    }
    const TimelineEntry &last = *failed.last();
    QVERIFY(last.error);
    QCOMPARE(last.error->suggestedAction, failedAdvice);
    const TimelineEntry &end = h.timeline.last();
    QVERIFY(end.error);
    QCOMPARE(end.error->suggestedAction, finalAdvice);
    // No line of the last attempt advises what cannot happen.
    if (failedAdvice != QLatin1String("Update your payment method and retry the order.")) {
        for (qsizetype i = h.timeline.indexOf(last); i < h.timeline.size(); ++i) {
            const TimelineEntry &t = h.timeline.at(i);
            const QString advice = t.error ? t.error->suggestedAction : QString();
            QVERIFY2(!advice.contains(QLatin1String("retry"), Qt::CaseInsensitive),
                     qPrintable(t.title + QLatin1String(": ") + advice));
        }
    }

    // Before the end is recorded, as soon as a reversal gave up, the line already
    // says so: the compensation cannot end complete any more.
    const OrderHistory beforeEnd = HistoryBuilder::build(events.mid(0, events.size() - 1));
    QCOMPARE(beforeEnd.finalStatus, QStringLiteral("ROLLING_BACK"));
    QCOMPARE(linesTitled(beforeEnd, QStringLiteral("Payment Failed")).last()->error->suggestedAction, failedAdvice);

    // As the rollback starts: no retry after the last allowed attempt; a
    // compensation not yet tried has not failed (an unanswered call's void that
    // gave up comes with the rollback's start).
    const auto rollback = std::find_if(events.crbegin(), events.crend(), [](const OrderEvent &e) {
        return e.type == EventType::CompensationStarted && !e.step;
    });
    QVERIFY(rollback != events.crend());
    const QVector<OrderEvent> reversing(events.cbegin(), rollback.base()); // up to and with it
    const OrderHistory r = HistoryBuilder::build(reversing);
    QCOMPARE(r.finalStatus, QStringLiteral("ROLLING_BACK"));
    const auto reversingFailed = linesTitled(r, QStringLiteral("Payment Failed"));
    QCOMPARE(reversingFailed.size(), attempts);
    const bool usedUp = Ending(ending) == Ending::LastAttemptDeclined || Ending(ending) == Ending::LastAttemptIncomplete;
    const QString own = failureInfo(reversingFailed.last()->error->code).suggestedAction;
    QCOMPARE(reversingFailed.last()->error->suggestedAction,
             usedUp                                 ? retriesUsedUpAction()
             : Ending(ending) == Ending::VoidGivenUp ? failureInfo(QStringLiteral("COMPENSATION_FAILED")).suggestedAction
                                                     : own);
}

// A compensation that succeeded only after failed calls says so: how many calls it
// took, and the last failed one's answer (no suggested action: nothing is left to do).
void tst_OrderHistory::injectedFailureNeedsNoCorrection_data()
{
    QTest::addColumn<int>("ending");
    QTest::addColumn<int>("attempts");
    QTest::addColumn<bool>("injected");
    QTest::addColumn<QString>("advice"); // the last attempt's "Payment Failed" and end lines
    const QString declined = QStringLiteral("PAYMENT_DECLINED");
    QTest::newRow("injected decline") << int(Ending::FirstDecline) << 1 << true << injectedFailureAction(declined);
    QTest::newRow("a real decline") << int(Ending::FirstDecline) << 1 << false
                                    << failureInfo(declined).suggestedAction;
    QTest::newRow("injected decline in a retry") << int(Ending::FirstDecline) << 2 << true
                                                 << injectedFailureAction(declined);
    QTest::newRow("injected fraud") << int(Ending::LastAttemptFraud) << 1 << true
                                    << injectedFailureAction(QStringLiteral("FRAUD_DETECTED"));
    QTest::newRow("injected decline, retries used up")
        << int(Ending::LastAttemptDeclined) << 1 + kMaxRetries << true << retriesUsedUpAction();
    QTest::newRow("injected decline, compensation incomplete")
        << int(Ending::CompensationIncomplete) << 1 << true
        << failureInfo(QStringLiteral("COMPENSATION_FAILED")).suggestedAction;
}

// The probe: a payment declined by a fault injected from the Failure Injection panel
// read "Update your payment method and retry the order." in the history, while the
// detail panel said nothing needs correcting; the history now says the failure was
// injected and the order can be retried as it is; an injected FRAUD_DETECTED, which
// is never retried, does not say it can be; no retry possible wins over both.
void tst_OrderHistory::injectedFailureNeedsNoCorrection()
{
    QFETCH(int, ending);
    QFETCH(int, attempts);
    QFETCH(bool, injected);
    QFETCH(QString, advice);
    const OrderHistory h = HistoryBuilder::build(endedWith(Ending(ending), attempts, injected));
    const auto failed = linesTitled(h, QStringLiteral("Payment Failed"));
    QCOMPARE(failed.size(), attempts);
    QVERIFY(failed.last()->error && h.timeline.last().error);
    QCOMPARE(failed.last()->error->suggestedAction, advice);
    QCOMPARE(h.timeline.last().error->suggestedAction, advice);
    // The attempts before it were real declines: their advice was to update the payment method.
    for (int i = 0; i < attempts - 1; ++i)
        QCOMPARE(failed.at(i)->error->suggestedAction, failureInfo(QStringLiteral("PAYMENT_DECLINED")).suggestedAction);
    if (injected && ending == int(Ending::LastAttemptFraud))
        QVERIFY(!advice.contains(QLatin1String("retried as it is")));
}

void tst_OrderHistory::compensationAfterFailedAttempts()
{
    QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder);
    auto released = std::find_if(events.begin(), events.end(),
                                 [](const OrderEvent &e) { return e.type == EventType::StepCompensated; });
    QVERIFY(released != events.end());
    const OrderHistory plain = HistoryBuilder::build(events);
    released->details.insert(QStringLiteral("failedAttempts"), 2);
    released->details.insert(QStringLiteral("lastFailure"),
                             QJsonObject{{QStringLiteral("code"), QStringLiteral("COMPENSATION_FAILED")},
                                         {QStringLiteral("message"), QStringLiteral("The compensation failed (injected).")},
                                         {QStringLiteral("injected"), true}});
    const OrderHistory h = HistoryBuilder::build(events);
    QCOMPARE(titles(h), titles(plain));
    QCOMPARE(statuses(h), statuses(plain));
    const TimelineEntry *entry = lineTitled(h, QStringLiteral("Inventory Released"));
    QVERIFY(entry);
    QCOMPARE(toString(entry->status), toString(TimelineStatus::Compensated));
    QCOMPARE(entry->description,
             QStringLiteral("The items reserved for your order have been released. This took 3 attempts."));
    QVERIFY(entry->error.has_value());
    QCOMPARE(entry->error->code, QStringLiteral("COMPENSATION_FAILED"));
    QCOMPARE(entry->error->message, QStringLiteral("The compensation failed (injected)."));
    QCOMPARE(entry->error->suggestedAction, QString());
    const TimelineEntry *plainEntry = lineTitled(plain, QStringLiteral("Inventory Released"));
    QVERIFY(plainEntry);
    QVERIFY(!plainEntry->error.has_value()); // released at the first call: nothing to tell

    // Resumed by an engine after a restart: the calls made before it are not counted.
    released->details.insert(QStringLiteral("resumed"), true);
    const OrderHistory resumed = HistoryBuilder::build(events);
    const TimelineEntry *resumedEntry = lineTitled(resumed, QStringLiteral("Inventory Released"));
    QVERIFY(resumedEntry);
    QCOMPARE(resumedEntry->description,
             QStringLiteral("The items reserved for your order have been released. This took at least 3 attempts."));
}

// A compensation resumed by an engine after a restart that succeeded at its first
// call then (STEP_COMPENSATED {resumed: true}, no failedAttempts): the calls made
// before the restart are not known. The history says it was resumed instead of a
// plain "released" (the README promises "at least N attempts" for resumed ones).
void tst_OrderHistory::compensationResumedAtItsFirstCall()
{
    QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder);
    auto released = std::find_if(events.begin(), events.end(),
                                 [](const OrderEvent &e) { return e.type == EventType::StepCompensated; });
    QVERIFY(released != events.end());
    const OrderHistory plain = HistoryBuilder::build(events);
    released->details.insert(QStringLiteral("resumed"), true);
    const OrderHistory h = HistoryBuilder::build(events);
    QCOMPARE(titles(h), titles(plain));
    QCOMPARE(statuses(h), statuses(plain));
    const TimelineEntry *entry = lineTitled(h, QStringLiteral("Inventory Released"));
    QVERIFY(entry);
    QCOMPARE(entry->description, QStringLiteral("The items reserved for your order have been released. It was "
                                                "completed after an interruption."));
    QVERIFY(!entry->error.has_value()); // nothing failed that is known, nothing is left to do
}

// A payment call that did not answer may have gone through: it is reversed first,
// and the event after that reversal (the rollback's COMPENSATION_STARTED) says what
// came of it. The timeline shows it as a line of its own, before "Reversing
// Completed Steps", with the service's last answer when it could not be reversed.
// It used to show nothing: a failed void was only "could not reverse every step".
void tst_OrderHistory::uncertainStepReversal_data()
{
    QTest::addColumn<bool>("reversed");
    QTest::addColumn<int>("attempts");
    QTest::addColumn<QString>("title");
    QTest::addColumn<QString>("status");
    QTest::addColumn<bool>("resumed"); // by an engine after a restart: earlier calls not counted
    QTest::newRow("voided at once") << true << 1 << "Payment Voided" << "COMPENSATED" << false;
    QTest::newRow("voided after failures") << true << 3 << "Payment Voided" << "COMPENSATED" << false;
    QTest::newRow("voided after failures, resumed") << true << 3 << "Payment Voided" << "COMPENSATED" << true;
    QTest::newRow("voided at once, resumed") << true << 1 << "Payment Voided" << "COMPENSATED" << true;
    QTest::newRow("not voided") << false << 15 << "Payment Void Failed" << "FAILED" << false;
    QTest::newRow("not voided, resumed") << false << 3 << "Payment Void Failed" << "FAILED" << true;
    QTest::newRow("not voided, recorded before attempts were") << false << 0 << "Payment Void Failed" << "FAILED"
                                                               << false;
}

void tst_OrderHistory::uncertainStepReversal()
{
    QFETCH(bool, reversed);
    QFETCH(int, attempts);
    QFETCH(QString, title);
    QFETCH(QString, status);
    QFETCH(bool, resumed);
    QVector<OrderEvent> events = scenario(Kind::ShippingFails, kOrder);
    auto rollback = std::find_if(events.begin(), events.end(), [](const OrderEvent &e) {
        return e.type == EventType::CompensationStarted && !e.step;
    });
    QVERIFY(rollback != events.end());
    const OrderHistory plain = HistoryBuilder::build(events);
    rollback->details.insert(QStringLiteral("uncertainStep"), QStringLiteral("Payment Processing"));
    rollback->details.insert(QStringLiteral("uncertainStepReversed"), reversed);
    if (attempts > 0)
        rollback->details.insert(QStringLiteral("uncertainStepAttempts"), attempts);
    if (resumed)
        rollback->details.insert(QStringLiteral("uncertainStepResumed"), true);
    const QString counted = (resumed ? QStringLiteral("at least ") : QString()) + QString::number(attempts);
    if (!reversed || attempts > 1)
        rollback->details.insert(QStringLiteral("uncertainStepFailure"),
                                 QJsonObject{{QStringLiteral("code"), QStringLiteral("SERVICE_UNAVAILABLE")},
                                             {QStringLiteral("message"), QStringLiteral("void service down")}});
    const OrderHistory h = HistoryBuilder::build(events);
    QStringList expected = titles(plain);
    expected.insert(int(expected.indexOf(QStringLiteral("Reversing Completed Steps"))), title);
    QCOMPARE(titles(h), expected);
    const TimelineEntry &entry = h.timeline.at(int(expected.indexOf(title)));
    QCOMPARE(toString(entry.status), status);
    QCOMPARE(entry.step, std::optional<SagaStep>(SagaStep::Payment));
    QVERIFY2(entry.description.startsWith(QLatin1String("We did not hear back about Payment Processing, so it may "
                                                        "have gone through")),
             qPrintable(entry.description));
    if (reversed) {
        QVERIFY2(entry.description.contains(QLatin1String("you have not been charged")), qPrintable(entry.description));
        QCOMPARE(entry.description.contains(QStringLiteral("This took %1 attempts.").arg(counted)), attempts > 1);
        QCOMPARE(entry.error.has_value(), attempts > 1);
        // Resumed and done at its first call then: that it was resumed, with no count.
        QCOMPARE(entry.description.endsWith(QLatin1String(" It was completed after an interruption.")),
                 resumed && attempts <= 1);
    } else {
        QVERIFY2(entry.description.contains(QLatin1String("could not reverse it automatically")),
                 qPrintable(entry.description));
        QCOMPARE(entry.description.contains(QStringLiteral("(%1 attempts)").arg(counted)), attempts > 0);
        QVERIFY(entry.error.has_value());
        // Named as any compensation that gave up (support acts; the order cannot be
        // retried), with the service's last answer: not the step's own code, whose
        // advice was "Retry the order in a few minutes."
        QCOMPARE(entry.error->code, QStringLiteral("COMPENSATION_FAILED"));
        QCOMPARE(entry.error->message, QStringLiteral("compensation incomplete: void service down"));
        QCOMPARE(entry.error->suggestedAction, failureInfo(QStringLiteral("COMPENSATION_FAILED")).suggestedAction);
    }
}

// A payment authorized for another amount than the total (PAYMENT_AMOUNT_MISMATCH)
// is voided before anything else, as a call that did not answer is, but the line
// says what happened instead of "we did not hear back".
void tst_OrderHistory::paymentForAnotherAmountIsVoided()
{
    QVector<OrderEvent> events = scenario(Kind::PaymentFails, kOrder);
    auto failed = std::find_if(events.begin(), events.end(), [](const OrderEvent &e) { return e.type == EventType::StepFailed; });
    auto rollback = std::find_if(events.begin(), events.end(), [](const OrderEvent &e) {
        return e.type == EventType::CompensationStarted && !e.step;
    });
    QVERIFY(failed != events.end() && rollback != events.end());
    failed->error = ErrorInfo{QStringLiteral("PAYMENT_AMOUNT_MISMATCH"),
                              QStringLiteral("The payment service authorized 99999999 cents instead of the order's total "
                                             "of 7499 cents; the authorization is voided.")};
    failed->details.insert(QStringLiteral("reversalOwed"), true);
    rollback->details.insert(QStringLiteral("uncertainStep"), QStringLiteral("Payment Processing"));
    rollback->details.insert(QStringLiteral("uncertainStepReversed"), true);
    rollback->details.insert(QStringLiteral("uncertainStepAttempts"), 1);
    const OrderHistory h = HistoryBuilder::build(events);
    const TimelineEntry *voided = lineTitled(h, QStringLiteral("Payment Voided"));
    QVERIFY(voided);
    QCOMPARE(voided->description,
             QStringLiteral("The payment service authorized a different amount than your order's total. Your payment has "
                            "been voided; you have not been charged."));
    const TimelineEntry *paymentFailed = lineTitled(h, QStringLiteral("Payment Failed"));
    QVERIFY(paymentFailed);
    QVERIFY(paymentFailed->error.has_value());
    QCOMPARE(paymentFailed->error->suggestedAction,
             QStringLiteral("Retry the order; contact customer support if it fails again."));
    QVERIFY2(paymentFailed->description.contains(QLatin1String("different amount")), qPrintable(paymentFailed->description));
}

void tst_OrderHistory::stepNamesAndTimestamps()
{
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    const OrderHistory h = HistoryBuilder::build(events);
    QVERIFY(!h.timeline[0].step);
    QCOMPARE(h.timeline[1].step, std::optional<SagaStep>(SagaStep::Inventory));
    QCOMPARE(h.timeline[1].timestamp, events[2].timestamp); // STEP_COMPLETED inventory
    QCOMPARE(h.timeline[3].step, std::optional<SagaStep>(SagaStep::Shipping));
    QVERIFY(!h.timeline[4].step);
    QVERIFY(h.timeline[4].description.contains(QLatin1String("CONF-1234")));
}

// A step taken over after an interruption says so in its line; its time is when it
// completed, as for any step. Other steps' lines are as they were.
void tst_OrderHistory::takenOverStepSaysItWasResumed()
{
    QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    const OrderHistory plain = HistoryBuilder::build(events);
    events[4].details.insert(QStringLiteral("resumed"), true); // payment's STEP_COMPLETED
    events[4].details.insert(QStringLiteral("resumedAt"), SagaJson::formatTimestamp(events[4].timestamp.addMSecs(-20)));
    const OrderHistory h = HistoryBuilder::build(events);
    QCOMPARE(titles(h), titles(plain));
    QCOMPARE(h.timeline[2].title, QStringLiteral("Payment Processed"));
    QCOMPARE(h.timeline[2].timestamp, events[4].timestamp);
    QCOMPARE(h.timeline[2].description,
             QStringLiteral("Your payment has been processed. This step was interrupted on our side and resumed "
                            "where it left off; nothing was done twice."));
    for (int i : {1, 3, 4})
        QCOMPARE(h.timeline[i].description, plain.timeline[i].description);
}

void tst_OrderHistory::inputOrderDoesNotMatter()
{
    QVector<OrderEvent> events = scenario(Kind::ShippingFails, kOrder);
    const OrderHistory expected = HistoryBuilder::build(events);
    std::reverse(events.begin(), events.end());
    events.append(events.first()); // and a duplicate
    const OrderHistory h = HistoryBuilder::build(events);
    QCOMPARE(h.timeline, expected.timeline);
    QCOMPARE(h.executions, expected.executions);
}

// A type a newer version recorded: a neutral line naming it, and the order's
// history goes on after it (read as SAGA_STARTED it ended the history there).
void tst_OrderHistory::unrecognizedEventIsALineOfItsOwn()
{
    QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    const OrderHistory plain = HistoryBuilder::build(events);
    OrderEvent unknown = events[4]; // payment's STEP_COMPLETED
    setEventType(&unknown, u"PAYMENT_HELD_FOR_REVIEW");
    unknown.timestamp = events[4].timestamp.addMSecs(-10);
    events.insert(4, unknown);
    for (int i = 4; i < events.size(); ++i)
        events[i].seq = i + 1;
    const OrderHistory h = HistoryBuilder::build(events);
    QCOMPARE(::titles(h), (QStringList{"Order Placed", "Inventory Reserved", "Unrecognized Update", "Payment Processed",
                                       "Shipping Arranged", "Order Complete"}));
    const TimelineEntry *line = lineTitled(h, QStringLiteral("Unrecognized Update"));
    QVERIFY(line);
    QCOMPARE(toString(line->status), toString(TimelineStatus::Neutral));
    QCOMPARE(line->timestamp, unknown.timestamp);
    QVERIFY2(line->description.contains(QLatin1String("PAYMENT_HELD_FOR_REVIEW")), qPrintable(line->description));
    QCOMPARE(h.finalStatus, plain.finalStatus);
    QCOMPARE(h.executions, plain.executions);
}

void tst_OrderHistory::inProgressOrder()
{
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder).mid(0, 4);
    const OrderHistory h = HistoryBuilder::build(events);
    QCOMPARE(h.finalStatus, QStringLiteral("IN_PROGRESS"));
    QVERIFY(h.completedAt.isNull());
    QCOMPARE(h.executionCount(), 1);
    QCOMPARE(h.executions[0].outcome, QStringLiteral("IN_PROGRESS"));
    QVERIFY(h.executions[0].completedAt.isNull());
    QCOMPARE(::titles(h), (QStringList{"Order Placed", "Inventory Reserved"}));
}

void tst_OrderHistory::emptyInput()
{
    const OrderHistory h = HistoryBuilder::build({});
    QVERIFY(h.timeline.isEmpty());
    QCOMPARE(h.executionCount(), 0);
}

void tst_OrderHistory::timelineStatusStrings()
{
    const QStringList names{"SUCCESS", "FAILED", "COMPENSATED", "SKIPPED", "NEUTRAL"};
    for (int i = 0; i < names.size(); ++i) {
        QCOMPARE(toString(TimelineStatus(i)), names[i]);
        QCOMPARE(timelineStatusFromString(names[i]), std::optional<TimelineStatus>(TimelineStatus(i)));
    }
    QVERIFY(!timelineStatusFromString(u"success"));
}

QTEST_APPLESS_MAIN(tst_OrderHistory)
#include "tst_orderhistory.moc"
