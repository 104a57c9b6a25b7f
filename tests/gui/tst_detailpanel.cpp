// The detail panel on its own: the ETA line stays truthful while time passes.

#include "detailpanel.h"
#include "guitesthelpers.h"
#include "ordertreemodel.h"
#include "stepstatusdelegate.h"

#include <QLabel>
#include <QTest>

using namespace SagaScenarios;

namespace {
constexpr int kTimeout = 10000;
} // namespace

class tst_DetailPanel : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void etaTurnsLateWhileShown();
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

QTEST_MAIN(tst_DetailPanel)
#include "tst_detailpanel.moc"
