// The failure injection panel with a fake source: edits that differ from the
// applied plan are marked as not applied, Apply is offered only for them, and
// Revert shows the applied plan again.

#include "failureinjectionpanel.h"
#include "fakesource.h"

#include <QCheckBox>
#include <QComboBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>

namespace {
constexpr int kTimeout = 10000;

void setKind(FailureInjectionPanel &panel, SagaStep step, StepFault::Kind kind)
{
    QComboBox *combo = panel.kindCombo(step);
    combo->setCurrentIndex(combo->findData(int(kind)));
}

QPushButton *revertButton(const FailureInjectionPanel &panel)
{
    return panel.findChild<QPushButton *>(QStringLiteral("revertFaultPlan"));
}

bool saysNotApplied(const FailureInjectionPanel &panel)
{
    return panel.statusText().contains(QLatin1String("Changes not applied yet"));
}

StepFault::Kind shownKind(const FailureInjectionPanel &panel, SagaStep step)
{
    return StepFault::Kind(panel.kindCombo(step)->currentData().toInt());
}
} // namespace

class tst_FailureInjectionPanel : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void editsNotAppliedAreMarked();
    void editKeptPendingWhenAOnceFaultFires();
    void planReadAgainOnceTheSourceIsBack();
};

// The probe: Payment set to "Fail with code" without pressing Apply; orders
// completed, the panel showed the fault and said "No failures injected."
void tst_FailureInjectionPanel::editsNotAppliedAreMarked()
{
    FakeSource source;
    FailureInjectionPanel panel;
    panel.show();
    panel.setSource(&source);
    QSignalSpy applied(&panel, &FailureInjectionPanel::applied);
    QVERIFY(applied.isValid());
    panel.clearAll(); // the engine's plan as the panel applied it: none
    QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kTimeout);
    QCOMPARE(panel.statusText(), QStringLiteral("No failures injected."));
    QVERIFY2(!saysNotApplied(panel), qPrintable(panel.statusText()));
    QVERIFY(!panel.applyButton()->isEnabled());
    QVERIFY(revertButton(panel));
    QVERIFY(!revertButton(panel)->isEnabled());

    setKind(panel, SagaStep::Payment, StepFault::Kind::Fail);
    QVERIFY2(saysNotApplied(panel), qPrintable(panel.statusText()));
    QVERIFY(panel.applyButton()->isEnabled());
    QVERIFY(revertButton(panel)->isEnabled());
    QVERIFY(source.plan.isEmpty()); // nothing was sent

    // Revert: the applied plan again, nothing pending.
    QTest::mouseClick(revertButton(panel), Qt::LeftButton);
    QCOMPARE(int(shownKind(panel, SagaStep::Payment)), int(StepFault::Kind::None));
    QVERIFY2(!saysNotApplied(panel), qPrintable(panel.statusText()));
    QVERIFY2(!panel.statusText().contains(QLatin1String("not applied")), qPrintable(panel.statusText()));
    QVERIFY(!panel.applyButton()->isEnabled());

    // Any field counts: the chance of an applied fault, then back to what was applied.
    setKind(panel, SagaStep::Payment, StepFault::Kind::Fail);
    QTest::mouseClick(panel.applyButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 2, kTimeout);
    QCOMPARE(int(source.plan[SagaStep::Payment].kind), int(StepFault::Kind::Fail));
    QVERIFY2(!saysNotApplied(panel), qPrintable(panel.statusText()));
    QVERIFY2(panel.statusText().contains(QLatin1String("applied; the next orders")), qPrintable(panel.statusText()));
    QVERIFY(!panel.applyButton()->isEnabled());
    panel.onceCheck(SagaStep::Payment)->setChecked(false);
    QVERIFY2(saysNotApplied(panel), qPrintable(panel.statusText()));
    panel.onceCheck(SagaStep::Payment)->setChecked(true);
    QVERIFY2(!saysNotApplied(panel), qPrintable(panel.statusText()));
    QVERIFY(!panel.statusText().contains(QLatin1String("not applied")));
}

// A once-only fault fires and the panel reads the plan again: the row that
// followed the plan shows it; a row being edited stays as the user has it and
// still counts as not applied, also after a second read.
void tst_FailureInjectionPanel::editKeptPendingWhenAOnceFaultFires()
{
    FakeSource source;
    FailureInjectionPanel panel;
    panel.setSource(&source);
    QSignalSpy applied(&panel, &FailureInjectionPanel::applied);
    setKind(panel, SagaStep::Payment, StepFault::Kind::Fail);
    panel.apply();
    QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kTimeout);
    setKind(panel, SagaStep::Shipping, StepFault::Kind::Delay); // being edited

    source.plan = FaultPlan{}; // the payment fault fired and disarmed itself
    Q_EMIT source.eventsReady({});
    QTRY_COMPARE_WITH_TIMEOUT(int(shownKind(panel, SagaStep::Payment)), int(StepFault::Kind::None), kTimeout);
    QVERIFY2(panel.statusText().contains(QLatin1String("disarmed")), qPrintable(panel.statusText()));
    QCOMPARE(int(shownKind(panel, SagaStep::Shipping)), int(StepFault::Kind::Delay));
    QVERIFY2(saysNotApplied(panel), qPrintable(panel.statusText()));

    panel.reloadFromSource(); // read again: the edit is not taken for the plan
    QTest::qWait(0);
    QCoreApplication::processEvents();
    QCOMPARE(int(shownKind(panel, SagaStep::Shipping)), int(StepFault::Kind::Delay));
    QVERIFY2(saysNotApplied(panel), qPrintable(panel.statusText()));
    QCOMPARE(applied.count(), 1);
}

// A remote console started while its saga-server was away (or that lost it): the
// plan could not be read, and the panel went on saying so, with no fault in its
// rows, once live, while the server ran with a payment fault armed. It reads the
// plan again when the source is live again, and the read's error goes with it.
void tst_FailureInjectionPanel::planReadAgainOnceTheSourceIsBack()
{
    FakeSource source;
    const QString away = QStringLiteral("Cannot reach saga-server at fake://test: the connection was refused.");
    source.planError = away;
    source.changeState(ProgressSource::State::Reconnecting, away);
    FailureInjectionPanel panel;
    panel.show();
    panel.setSource(&source);
    QTRY_COMPARE_WITH_TIMEOUT(panel.statusText(), away, kTimeout);
    QCOMPARE(int(shownKind(panel, SagaStep::Payment)), int(StepFault::Kind::None));

    // The server answers again, with a fault armed (by another console, or before).
    source.planError.clear();
    source.plan[SagaStep::Payment].kind = StepFault::Kind::Fail;
    source.plan[SagaStep::Payment].errorCode = QStringLiteral("PAYMENT_DECLINED");
    source.plan[SagaStep::Payment].once = false;
    source.changeState(ProgressSource::State::Live, QStringLiteral("Live from fake://test."));
    QTRY_COMPARE_WITH_TIMEOUT(int(shownKind(panel, SagaStep::Payment)), int(StepFault::Kind::Fail), kTimeout);
    QVERIFY2(!panel.statusText().contains(away), qPrintable(panel.statusText()));
    QVERIFY2(!saysNotApplied(panel), qPrintable(panel.statusText())); // it is the plan, not an edit
    QVERIFY(!panel.applyButton()->isEnabled());

    // The server restarted meanwhile with no plan: live again, the rows say so.
    source.changeState(ProgressSource::State::Stale, away);
    source.plan = FaultPlan{};
    source.changeState(ProgressSource::State::Live, QStringLiteral("Live from fake://test."));
    QTRY_COMPARE_WITH_TIMEOUT(int(shownKind(panel, SagaStep::Payment)), int(StepFault::Kind::None), kTimeout);
    QVERIFY2(!saysNotApplied(panel), qPrintable(panel.statusText()));
}

QTEST_MAIN(tst_FailureInjectionPanel)
#include "tst_failureinjectionpanel.moc"
