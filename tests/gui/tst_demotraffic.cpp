// Demo traffic with a fake source: it stops when its source gives up for good.

#include "demotraffic.h"
#include "fakesource.h"

#include <QSignalSpy>
#include <QTest>

namespace {
constexpr int kTimeout = 10000;
} // namespace

class tst_DemoTraffic : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void stopsWhenTheSourceGivesUp();
};

// The probe: a remote console with --demo whose token expired. The source said
// "rejected the token ... connect again" (Failed) and stopped, while the demo
// traffic went on sending an order every second (each refused 401) with its
// button still on, until the window was closed.
void tst_DemoTraffic::stopsWhenTheSourceGivesUp()
{
    FakeSource source;
    source.start(); // live, first load done
    DemoTraffic demo;
    demo.setSource(&source);
    demo.setOrdersPerMinute(6000); // one every 10 ms
    QSignalSpy running(&demo, &DemoTraffic::runningChanged);
    QVERIFY(running.isValid());
    demo.setRunning(true);
    QTRY_VERIFY_WITH_TIMEOUT(source.ordersPlaced >= 2, kTimeout);

    source.changeState(ProgressSource::State::Failed,
                       QStringLiteral("The server at fake://test rejected the token (401 Unauthorized)."));
    QVERIFY(!demo.isRunning());
    QCOMPARE(running.count(), 2);
    QCOMPARE(running.last().at(0).toBool(), false);
    const int placed = source.ordersPlaced;
    QTest::qWait(100); // ten ticks of the demo's timer, were it still running
    QCOMPARE(source.ordersPlaced, placed);

    // Started again on the source that gave up: it sends nothing and says it is off.
    demo.setRunning(true);
    QVERIFY(!demo.isRunning());
    QCOMPARE(running.last().at(0).toBool(), false);
    QTest::qWait(50);
    QCOMPARE(source.ordersPlaced, placed);

    // Another source (File > Connect with a new token): the traffic runs again.
    FakeSource other;
    other.start();
    demo.setSource(&other);
    demo.setRunning(true);
    QTRY_VERIFY_WITH_TIMEOUT(other.ordersPlaced >= 1, kTimeout);
    QVERIFY(demo.isRunning());
    QCOMPARE(source.ordersPlaced, placed);
}

QTEST_MAIN(tst_DemoTraffic)
#include "tst_demotraffic.moc"
