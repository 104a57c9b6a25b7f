// The detail panel on its own: the ETA line stays truthful while time passes;
// what it says about retry and history reads as sentences.

#include "detailpanel.h"
#include "orderhistory.h"
#include <QAbstractItemModelTester>
#include <QScopeGuard>
#include <QSignalSpy>
#include "timelinemodel.h"
#include "fakesource.h"
#include "retrydialog.h"
#include "sagajson.h"
#include "guitesthelpers.h"
#include "ordertreemodel.h"
#include "stepstatusdelegate.h"

#include <QApplication>
#include <QGroupBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QPushButton>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

using namespace SagaScenarios;

namespace {
constexpr int kTimeout = 10000;
} // namespace

class tst_DetailPanel : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void etaTurnsLateWhileShown();
    void loadedOrderInFlightIsLate();
    void retryAndHistoryReadAsSentences();
    void historyAcrossDaysShowsDates();
    void unreversedUnansweredCallIsNamed();
    void injectedFailureNeedsNoCorrection_data();
    void injectedFailureNeedsNoCorrection();
    void retriesUsedUpAdviseNoRetry_data();
    void retriesUsedUpAdviseNoRetry();
    void injectedFraudIsStillNotRetried();
    void reversalIsNotStillRunning_data();
    void reversalIsNotStillRunning();
    void historyUnreadableWhileAwayIsReadOnceBack();
    void caseFileWithoutTheHistorySaysSo();
    void ordersReloadedWhileRetryDialogIsOpen();
};

// A step that takes longer than its p95: the tree's ETA cell turns late on its
// next repaint (IsLateRole reads the clock); the panel's ETA line must too,
// although the model announces nothing while the step hangs.
void tst_DetailPanel::etaTurnsLateWhileShown()
{
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    Builder b(id);
    b.started();
    b.add(EventType::StepStarted, SagaStep::Inventory);
    QDateTime now = b.time();
    model.setClock([&now] { return now; });
    model.applyEvents(b.events());
    QVERIFY(model.order(id) && !model.order(id)->isTerminal());

    DetailPanel panel(&model);
    panel.show();
    panel.setOrder(id);
    auto *eta = panel.findChild<QLabel *>(QStringLiteral("eta"));
    QVERIFY(eta);
    const QModelIndex cell = model.indexOf(id, OrderTreeModel::EtaColumn);
    QVERIFY(!cell.data(OrderTreeModel::IsLateRole).toBool());
    QVERIFY2(!panel.etaText().contains(QLatin1String("late")), qPrintable(panel.etaText()));
    QVERIFY(!eta->property("late").toBool());

    now = now.addSecs(3600); // the step hangs; no event arrives
    QVERIFY(cell.data(OrderTreeModel::IsLateRole).toBool()); // what the tree draws
    QTRY_VERIFY2_WITH_TIMEOUT(panel.etaText().contains(QLatin1String("late")), qPrintable(panel.etaText()), kTimeout);
    QVERIFY(eta->property("late").toBool());
    QVERIFY(eta->styleSheet().contains(StepStatusDelegate::lateColor().name()));

    // The step finishes and the saga completes: "finished", not late any more.
    Builder full(id); // the same first events (duplicates are ignored), then the rest
    appendKind(full, Kind::Success);
    model.applyEvents(full.events());
    QTRY_COMPARE_WITH_TIMEOUT(panel.etaText(), QStringLiteral("finished"), kTimeout);
    QVERIFY(!eta->property("late").toBool());
}

// The probe: after a crash with sagas in flight, the reopened console loaded them
// from the store and said "ETA: not known yet" with no late mark, far past their
// p95. The panel shows their ETA, late.
void tst_DetailPanel::loadedOrderInFlightIsLate()
{
    const QUuid id = QUuid::createUuid();
    Builder b(id);
    b.started();
    b.add(EventType::StepStarted, SagaStep::Inventory);
    OrderProgress loaded(id);
    for (const OrderEvent &e : b.events())
        loaded.apply(e);
    OrderTreeModel model;
    const QDateTime now = b.time().addSecs(45);
    model.setClock([now] { return now; });
    model.loadSnapshots({loaded});

    DetailPanel panel(&model);
    panel.show();
    panel.setOrder(id);
    QVERIFY2(panel.etaText().contains(QLatin1String("late")), qPrintable(panel.etaText()));
    QVERIFY(!panel.etaText().contains(QLatin1String("not known")));
}

// The History showed the time of day only, and its tooltips local time even with
// Times in UTC on: a saga retried two days later read as if both attempts ran on
// one day. A history over more than one day shows the dates; one within a day the
// times only; the tooltip's whole date and time is in the zone the times are in.
void tst_DetailPanel::historyAcrossDaysShowsDates()
{
    const QUuid id = QUuid::createUuid();
    const QDateTime start(QDate(2026, 3, 9), QTime(23, 59, 59, 850), Qt::UTC);
    Builder b(id, start, 100);
    b.started();
    b.stepOk(SagaStep::Inventory); // across midnight (UTC)
    TimelineModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    auto time = [&model](int row) { return model.index(row, TimelineModel::TimeColumn).data().toString(); };

    model.setHistory(HistoryBuilder::build(b.events().mid(0, 1))); // the first event alone: one day
    QCOMPARE(time(0), QStringLiteral("23:59:59.850 UTC"));
    model.setHistory(HistoryBuilder::build(b.events()));
    QVERIFY(model.rowCount() >= 2);
    QCOMPARE(time(0), QStringLiteral("2026-03-09 23:59:59.850 UTC"));
    QVERIFY2(time(model.rowCount() - 1).startsWith(QLatin1String("2026-03-10 00:00:00")), qPrintable(time(model.rowCount() - 1)));

    // (Local time five hours behind UTC here, so that the two differ.)
    const QByteArray zone = qgetenv("TZ");
    qputenv("TZ", "America/New_York");
    auto restoreZone = qScopeGuard([zone] { zone.isNull() ? qunsetenv("TZ") : qputenv("TZ", zone); });
    QVERIFY(start.toLocalTime().time().hour() != start.time().hour());
    const QString utcTip = model.index(0, TimelineModel::TimeColumn).data(Qt::ToolTipRole).toString();
    QCOMPARE(utcTip, QLocale().toString(start, QLocale::LongFormat));
    model.setDisplayUtc(false);
    QCOMPARE(model.index(0, TimelineModel::TimeColumn).data(Qt::ToolTipRole).toString(),
             QLocale().toString(start.toLocalTime(), QLocale::LongFormat));
}

// The probe: "retry cooldown period not elapsed Next retry possible at 01:13:02
// UTC." (the API's reason glued to a sentence), and "8 event(s)" above a
// five-row timeline.
void tst_DetailPanel::retryAndHistoryReadAsSentences()
{
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    model.applyEvents(scenario(Kind::PaymentFails, id));
    QCOMPARE(toString(model.order(id)->overallStatus), toString(OverallStatus::RolledBack));
    FakeSource source;
    source.eligibility.eligible = false;
    source.eligibility.reason = QStringLiteral("retry cooldown period not elapsed");
    const QDateTime next = QDateTime::currentDateTimeUtc().addSecs(1800);
    source.eligibility.nextRetryAvailableAt = next;
    for (int i = 0; i < 8; ++i)
        source.orderCase.rawEvents.append(QJsonObject{{QStringLiteral("id"), i + 1}});

    DetailPanel panel(&model);
    panel.setSource(&source);
    panel.setOrder(id);
    const QString expected = QStringLiteral("Retry cooldown period not elapsed. Next retry possible at %1.")
                                 .arg(next.toString(QStringLiteral("HH:mm:ss 'UTC'")));
    QTRY_COMPARE_WITH_TIMEOUT(panel.eligibilityText(), expected, kTimeout);
    QVERIFY(!panel.retryButton()->isEnabled());

    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded(), kTimeout);
    QStringList states;
    for (const QLabel *l : panel.findChildren<QLabel *>())
        states << l->text();
    QVERIFY2(states.contains(QStringLiteral("8 events recorded")), qPrintable(states.join(QLatin1Char('|'))));

    source.orderCase.rawEvents = {QJsonObject{{QStringLiteral("id"), 1}}};
    panel.reload();
    QTRY_VERIFY_WITH_TIMEOUT([&] {
        for (const QLabel *l : panel.findChildren<QLabel *>())
            if (l->text() == QLatin1String("1 event recorded"))
                return true;
        return false;
    }(), kTimeout);
}

// A payment call that did not answer, whose reversal (void) then failed: the
// order is FAILED with "compensation incomplete" although no compensation step
// failed. What to do names the step instead of "check the step services and
// reverse what is left by hand".
void tst_DetailPanel::unreversedUnansweredCallIsNamed()
{
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    Builder b(id);
    b.started();
    b.stepOk(SagaStep::Inventory);
    b.add(EventType::StepStarted, SagaStep::Payment);
    b.add(EventType::StepFailed, SagaStep::Payment,
          {{QStringLiteral("phase"), QStringLiteral("FORWARD")}, {QStringLiteral("reversalOwed"), true}},
          ErrorInfo{QStringLiteral("STEP_TIMEOUT"), QStringLiteral("The step service did not answer in time.")});
    b.add(EventType::CompensationStarted, std::nullopt,
          {{QStringLiteral("uncertainStep"), QStringLiteral("Payment Processing")},
           {QStringLiteral("uncertainStepReversed"), false}});
    b.compensate(SagaStep::Inventory);
    b.add(EventType::SagaFailed, std::nullopt, {{QStringLiteral("compensationIncomplete"), true}},
          ErrorInfo{QStringLiteral("COMPENSATION_FAILED"), QStringLiteral("compensation incomplete: void service down")});
    model.applyEvents(b.events());
    QCOMPARE(toString(model.order(id)->overallStatus), toString(OverallStatus::Failed));

    DetailPanel panel(&model);
    panel.show();
    panel.setOrder(id);
    QTRY_VERIFY(!panel.failureText().isEmpty());
    const QString text = panel.failureText();
    QVERIFY2(text.contains(QLatin1String("Payment Processing did not answer and may have gone through, and it could "
                                         "not be reversed")),
             qPrintable(text));
    QVERIFY2(text.contains(QLatin1String("cannot be retried")), qPrintable(text));
    QVERIFY2(!text.contains(QLatin1String("reverse what is left")), qPrintable(text));
}

// A saga whose `failed` step failed forward with `error` (an injected failure when
// `injected`), the steps before it reversed: ROLLED_BACK.
static Builder rolledBackAfter(const QUuid &id, SagaStep failed, bool injected, const ErrorInfo &error)
{
    Builder b(id);
    b.started();
    QVector<SagaStep> done;
    for (SagaStep s : {SagaStep::Inventory, SagaStep::Payment, SagaStep::Shipping}) {
        if (s == failed)
            break;
        b.stepOk(s);
        done.prepend(s);
    }
    b.add(EventType::StepStarted, failed);
    QJsonObject details{{QStringLiteral("phase"), QStringLiteral("FORWARD")}};
    if (injected)
        details.insert(QStringLiteral("injected"), true);
    b.add(EventType::StepFailed, failed, details, error);
    b.add(EventType::CompensationStarted);
    for (SagaStep s : std::as_const(done))
        b.compensate(s);
    b.failed();
    return b;
}

// `panel` showing order `id`, whose case (`b`'s events) and eligibility come from `source`.
static void showCase(DetailPanel &panel, FakeSource &source, const QUuid &id, const Builder &b)
{
    for (const OrderEvent &e : b.events())
        source.orderCase.rawEvents.append(SagaJson::rawEventToJson(e));
    panel.setSource(&source);
    panel.show();
    panel.setOrder(id);
}

void tst_DetailPanel::injectedFailureNeedsNoCorrection_data()
{
    QTest::addColumn<bool>("injected");
    QTest::newRow("injected") << true;
    QTest::newRow("the address failed") << false;
}

// The probe: an order failed by a fault injected from the Failure Injection panel
// (INVALID_ADDRESS on Shipping Arrangement) read "What to do: Correct your shipping
// address and retry the order.", and the Retry dialog refused to send the retry
// until the address was changed. The address was fine: the advice says the
// failure was injected, and the dialog retries the order as it is.
void tst_DetailPanel::injectedFailureNeedsNoCorrection()
{
    QFETCH(bool, injected);
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    const Builder b = rolledBackAfter(id, SagaStep::Shipping, injected,
                                      ErrorInfo{QStringLiteral("INVALID_ADDRESS"),
                                                QStringLiteral("Injected failure (INVALID_ADDRESS).")});
    model.applyEvents(b.events());
    QCOMPARE(toString(model.order(id)->overallStatus), toString(OverallStatus::RolledBack));

    FakeSource source;
    source.eligibility.eligible = true;
    source.eligibility.maxRetries = 3;
    source.eligibility.requiredActions = {QStringLiteral("UPDATE_SHIPPING_ADDRESS")}; // from the code alone
    source.eligibility.reason = QStringLiteral("order can be retried after the required corrections");
    OrderRecord record;
    record.id = id;
    record.paymentMethodId = QStringLiteral("pm-visa-4242");
    record.shippingAddress = ShippingAddress{QStringLiteral("742 Evergreen Terrace"), QStringLiteral("Springfield"),
                                             QStringLiteral("OR"), QStringLiteral("97403"), QStringLiteral("US")};
    source.orderCase.record = record;
    DetailPanel panel(&model);
    showCase(panel, source, id, b);
    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded() && panel.isEligibilityKnown(), kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    const QString advice = panel.failureText();
    const QString eligibility = panel.eligibilityText();
    QCOMPARE(advice.contains(QLatin1String("Correct your shipping address")), !injected);
    QCOMPARE(advice.contains(QLatin1String("injected")), injected);
    QCOMPARE(eligibility.contains(QLatin1String("Correct the shipping address first")), !injected);
    QCOMPARE(eligibility.contains(QLatin1String("no correction is needed")), injected);

    // Retry, as it is: the dialog sends it (the address unchanged) only when injected.
    bool dialogSeen = false;
    bool acceptable = false;
    bool addressChecked = true;
    std::optional<ShippingAddress> sentAddress;
    QTimer::singleShot(0, this, [&] {
        auto *dialog = qobject_cast<RetryDialog *>(QApplication::activeModalWidget());
        if (!dialog)
            return;
        dialogSeen = true;
        acceptable = dialog->isAcceptable();
        addressChecked = dialog->addressGroup()->isChecked();
        sentAddress = dialog->request(id).shippingAddress;
        dialog->reject();
    });
    panel.retry();
    QVERIFY(dialogSeen);
    QCOMPARE(acceptable, injected);
    QCOMPARE(addressChecked, !injected);
    QCOMPARE(sentAddress.has_value(), !injected);
}

void tst_DetailPanel::retriesUsedUpAdviseNoRetry_data()
{
    QTest::addColumn<bool>("injected");
    QTest::newRow("declined") << false;
    QTest::newRow("injected") << true;
}

// The probe: after the last allowed retry the panel said "What to do: Update your
// payment method and retry the order." next to "Maximum retry attempts exceeded."
// with Retry disabled (an injected failure: "... can be retried as it is"). The
// advice says no retry can happen.
void tst_DetailPanel::retriesUsedUpAdviseNoRetry()
{
    QFETCH(bool, injected);
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    const Builder b = rolledBackAfter(id, SagaStep::Payment, injected,
                                      ErrorInfo{QStringLiteral("PAYMENT_DECLINED"),
                                                QStringLiteral("Your payment was declined.")});
    model.applyEvents(b.events());
    QCOMPARE(toString(model.order(id)->overallStatus), toString(OverallStatus::RolledBack));

    FakeSource source;
    source.eligibility.eligible = false;
    source.eligibility.reason = QStringLiteral("maximum retry attempts exceeded");
    source.eligibility.retryCount = 3;
    source.eligibility.maxRetries = 3;
    DetailPanel panel(&model);
    showCase(panel, source, id, b);
    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded() && panel.isEligibilityKnown(), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(panel.eligibilityText(), QStringLiteral("Maximum retry attempts exceeded."), kTimeout);
    QVERIFY(!panel.retryButton()->isEnabled());
    const QString advice = panel.failureText();
    QVERIFY2(advice.contains(QLatin1String("it has been retried 3 times, as often as it can be")), qPrintable(advice));
    QVERIFY2(!advice.contains(QLatin1String("retry the order")), qPrintable(advice));
    QVERIFY2(!advice.contains(QLatin1String("retried as it is")), qPrintable(advice));

    // One retry left: the failure's own advice again.
    source.eligibility.eligible = true;
    source.eligibility.reason = QStringLiteral("order can be retried after the required corrections");
    source.eligibility.retryCount = 2;
    panel.reload();
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    QTRY_VERIFY2_WITH_TIMEOUT(panel.failureText().contains(injected ? QLatin1String("retried as it is")
                                                                    : QLatin1String("Update your payment method")),
                              qPrintable(panel.failureText()), kTimeout);
}

// The probe: an injected FRAUD_DETECTED read "Nothing. This failure was injected ...;
// the order can be retried as it is." next to a disabled Retry (the retry policy
// never retries that code, injected or not). The advice says it was injected and
// that the order cannot be retried.
void tst_DetailPanel::injectedFraudIsStillNotRetried()
{
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    const Builder b = rolledBackAfter(id, SagaStep::Payment, true,
                                      ErrorInfo{QStringLiteral("FRAUD_DETECTED"),
                                                QStringLiteral("Injected failure (FRAUD_DETECTED).")});
    model.applyEvents(b.events());
    FakeSource source;
    source.eligibility.eligible = false;
    source.eligibility.reason = QStringLiteral("non-retryable failure: FRAUD_DETECTED");
    source.eligibility.maxRetries = 3;
    DetailPanel panel(&model);
    showCase(panel, source, id, b);
    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded() && panel.isEligibilityKnown(), kTimeout);
    QVERIFY(!panel.retryButton()->isEnabled());
    const QString advice = panel.failureText();
    QVERIFY2(advice.contains(QLatin1String("injected")), qPrintable(advice));
    QVERIFY2(advice.contains(QLatin1String("cannot be retried")), qPrintable(advice));
    QVERIFY2(!advice.contains(QLatin1String("retried as it is")), qPrintable(advice));
}

namespace {
enum class Reversal { PaymentFailed, InventoryCompensating, UnansweredCallVoided, RetryReversed };
} // namespace

void tst_DetailPanel::reversalIsNotStillRunning_data()
{
    QTest::addColumn<int>("reversal");
    QTest::addColumn<QString>("expected");
    const QString first = QStringLiteral("The order's failed attempt is still being reversed; once that has ended the "
                                         "order can be retried, if its failure allows a retry.");
    QTest::newRow("payment failed, rollback started") << int(Reversal::PaymentFailed) << first;
    QTest::newRow("inventory being compensated") << int(Reversal::InventoryCompensating) << first;
    QTest::newRow("unanswered payment being voided") << int(Reversal::UnansweredCallVoided) << first;
    QTest::newRow("a retry's failed attempt")
        << int(Reversal::RetryReversed)
        << QStringLiteral("A retry is in progress: its failed attempt is still being reversed; once that has ended "
                          "the order can be retried again, if its failure allows a retry.");
}

// The probe: an order whose failed payment was being reversed (ROLLING_BACK, the
// inventory compensating) read "The saga is still running." under Retry; the
// engine refuses its retry with "the order's failed attempt is still being
// reversed ...". The panel says what is happening, in the same words; a saga
// running forward still reads "The saga is still running.".
void tst_DetailPanel::reversalIsNotStillRunning()
{
    QFETCH(int, reversal);
    QFETCH(QString, expected);
    const auto kind = Reversal(reversal);
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    Builder b(id);
    if (kind == Reversal::RetryReversed)
        appendKind(b, Kind::PaymentFails); // attempt 1: ROLLED_BACK
    b.started(kind == Reversal::RetryReversed ? 2 : 1);
    b.stepOk(SagaStep::Inventory);
    b.add(EventType::StepStarted, SagaStep::Payment);
    model.applyEvents(b.events());
    QCOMPARE(toString(model.order(id)->overallStatus), toString(OverallStatus::InProgress));

    FakeSource source; // never asked: nothing to retry yet
    source.eligibility.eligible = true;
    DetailPanel panel(&model);
    panel.setSource(&source);
    panel.show();
    panel.setOrder(id);
    // A retry running forward is said as one (the engine: "retry already in progress").
    QTRY_COMPARE_WITH_TIMEOUT(panel.eligibilityText(),
                              kind == Reversal::RetryReversed ? QStringLiteral("A retry is in progress.")
                                                              : QStringLiteral("The saga is still running."),
                              kTimeout);
    QVERIFY(!panel.retryButton()->isEnabled());

    // The payment fails; the steps done are reversed.
    const ErrorInfo declined{QStringLiteral("PAYMENT_DECLINED"), QStringLiteral("Payment declined")};
    if (kind == Reversal::UnansweredCallVoided) {
        b.add(EventType::StepFailed, SagaStep::Payment,
              {{QStringLiteral("phase"), QStringLiteral("FORWARD")}, {QStringLiteral("reversalOwed"), true}},
              ErrorInfo{QStringLiteral("STEP_TIMEOUT"), QStringLiteral("The step service did not answer in time.")});
    } else {
        b.add(EventType::StepFailed, SagaStep::Payment, {{QStringLiteral("phase"), QStringLiteral("FORWARD")}},
              declined);
        b.add(EventType::CompensationStarted);
        if (kind == Reversal::InventoryCompensating)
            b.add(EventType::CompensationStarted, SagaStep::Inventory);
    }
    model.applyEvents(b.events());
    QCOMPARE(toString(model.order(id)->overallStatus), toString(OverallStatus::RollingBack));
    if (kind == Reversal::InventoryCompensating)
        QCOMPARE(toString(model.order(id)->steps[size_t(SagaStep::Inventory)].status),
                 toString(StepStatus::Compensating));
    QTRY_COMPARE_WITH_TIMEOUT(panel.eligibilityText(), expected, kTimeout);
    QVERIFY(!panel.retryButton()->isEnabled());
}


// `source` holding the case of `events` (history and raw events) and answering a
// read of it with `away` until its caseError is cleared.
static void holdCaseWhileAway(FakeSource &source, const QVector<OrderEvent> &events, const QString &away)
{
    source.orderCase.history = HistoryBuilder::build(events);
    for (const OrderEvent &e : events)
        source.orderCase.rawEvents.append(SagaJson::rawEventToJson(e));
    source.caseError = away;
}

// An order chosen while the source was away (saga-server down, PostgreSQL
// restarting): its history could not be read. Once the source is back, the
// history is read again, also for an order that gets no new event (one that has
// ended): it said "could not be read" above an empty History for good.
void tst_DetailPanel::historyUnreadableWhileAwayIsReadOnceBack()
{
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    const QVector<OrderEvent> events = scenario(Kind::PaymentFails, id);
    model.applyEvents(events);
    QVERIFY(model.order(id)->isTerminal());
    FakeSource source;
    const QString away = QStringLiteral("Cannot reach saga-server at fake://test: the connection was refused.");
    holdCaseWhileAway(source, events, away);
    source.changeState(ProgressSource::State::Stale, away);

    DetailPanel panel(&model);
    panel.setSource(&source);
    panel.show();
    panel.setOrder(id);
    auto historyState = [&panel] {
        QStringList texts;
        for (const QLabel *l : panel.findChildren<QLabel *>())
            texts << l->text();
        return texts;
    };
    // (Read when chosen, and once more as the panel first sees the order's status.)
    QTRY_COMPARE_WITH_TIMEOUT(source.caseLoads, 2, kTimeout);
    QTRY_VERIFY2_WITH_TIMEOUT(historyState().contains(away), qPrintable(historyState().join(QLatin1Char('|'))),
                              kTimeout);
    QVERIFY(!panel.isCaseLoaded());
    QCOMPARE(panel.timelineModel()->rowCount(), 0);

    // Back: the source goes live again; the order itself does not change.
    source.caseError.clear();
    source.changeState(ProgressSource::State::Live, QStringLiteral("Live from fake://test."));
    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded(), kTimeout);
    QVERIFY(panel.timelineModel()->rowCount() > 0);
    const QString recorded = QStringLiteral("%1 events recorded").arg(events.size());
    QVERIFY2(historyState().contains(recorded), qPrintable(historyState().join(QLatin1Char('|'))));
    QVERIFY(!historyState().contains(away));

    // A history that was read is not read again at every change of state.
    const int loads = source.caseLoads;
    source.changeState(ProgressSource::State::Stale, away);
    source.changeState(ProgressSource::State::Live, QStringLiteral("Live from fake://test."));
    QTest::qWait(50);
    QCOMPARE(source.caseLoads, loads);
}

// Export Case File (Ctrl+E) before the order's history and raw events were read
// (just chosen, or the source away) saved a file with the status only and said
// "Case file saved to ...": a case attached to a ticket without its history, with
// nothing to tell. The file and the message now say what it lacks and why.
void tst_DetailPanel::caseFileWithoutTheHistorySaysSo()
{
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    const QVector<OrderEvent> events = scenario(Kind::PaymentFails, id);
    model.applyEvents(events);
    FakeSource source;
    const QString away = QStringLiteral("Cannot reach saga-server at fake://test: the connection was refused.");
    holdCaseWhileAway(source, events, away);
    DetailPanel panel(&model);
    panel.setSource(&source);
    panel.setOrder(id);
    QTRY_COMPARE_WITH_TIMEOUT(source.caseLoads, 2, kTimeout);
    QCoreApplication::processEvents();
    QVERIFY(!panel.isCaseLoaded());

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("case.json"));
    QString error;
    QString incomplete;
    QVERIFY2(panel.exportCaseTo(path, &error, &incomplete), qPrintable(error));
    QVERIFY2(incomplete.contains(QLatin1String("history and raw events are not in this file")), qPrintable(incomplete));
    QVERIFY2(incomplete.contains(away), qPrintable(incomplete));
    auto read = [&path] {
        QFile file(path);
        return file.open(QIODevice::ReadOnly) ? QJsonDocument::fromJson(file.readAll()).object() : QJsonObject();
    };
    QJsonObject caseFile = read();
    QVERIFY(caseFile.contains(QLatin1String("status")));
    QVERIFY(!caseFile.contains(QLatin1String("events")));
    QCOMPARE(caseFile.value(QLatin1String("incomplete")).toString(), incomplete);

    // Read: the whole case, nothing said missing.
    source.caseError.clear();
    source.changeState(ProgressSource::State::Live, QStringLiteral("Live from fake://test."));
    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded(), kTimeout);
    QVERIFY2(panel.exportCaseTo(path, &error, &incomplete), qPrintable(error));
    QCOMPARE(incomplete, QString());
    caseFile = read();
    QCOMPARE(caseFile.value(QLatin1String("events")).toArray().size(), events.size());
    QVERIFY(!caseFile.contains(QLatin1String("incomplete")));
}

// The retry dialog is modal, but events go on while it is open: a remote console
// whose saga-server came back on other data drops every order and loads them again
// (as the main window does on contentsReplaced: the model cleared, the panel
// emptied). Accepted after that, the dialog's retry was sent for no order (the
// panel's emptied id) and its order number read from the order that was dropped.
// Nothing is sent now, and the panel says why.
void tst_DetailPanel::ordersReloadedWhileRetryDialogIsOpen()
{
    OrderTreeModel model;
    const QUuid id = QUuid::createUuid();
    model.applyEvents(scenario(Kind::PaymentFails, id));
    FakeSource source;
    source.eligibility.eligible = true;
    source.eligibility.maxRetries = 3;
    DetailPanel panel(&model);
    panel.setSource(&source);
    panel.show();
    panel.setOrder(id);
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    QSignalSpy messages(&panel, &DetailPanel::message);
    QVERIFY(messages.isValid());

    bool dialogSeen = false;
    QTimer::singleShot(0, this, [&] {
        auto *dialog = qobject_cast<RetryDialog *>(QApplication::activeModalWidget());
        if (!dialog)
            return;
        dialogSeen = true;
        model.clear();       // contentsReplaced, as MainWindow handles it
        panel.setOrder({});
        dialog->accept();
    });
    panel.retry();
    QVERIFY(dialogSeen);
    QCoreApplication::processEvents();
    QCOMPARE(source.retriesSent.size(), 0);
    QCOMPARE(messages.count(), 1);
    const QString said = messages.first().first().toString();
    QVERIFY2(said.contains(QLatin1String("was not retried: the orders were loaded again")), qPrintable(said));

    // Untouched meanwhile, the same dialog sends the retry for the order shown.
    model.applyEvents(scenario(Kind::PaymentFails, id));
    panel.setOrder(id);
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    QTimer::singleShot(0, this, [&] {
        if (auto *dialog = qobject_cast<RetryDialog *>(QApplication::activeModalWidget()))
            dialog->accept();
    });
    panel.retry();
    QCOMPARE(source.retriesSent.size(), 1);
    QCOMPARE(source.retriesSent.first().orderId, id);
}

QTEST_MAIN(tst_DetailPanel)
#include "tst_detailpanel.moc"
