// Engines on one PostgreSQL database whose hosts' clocks disagree (a prober ran
// `faketime -f +60s saga-server` next to a normal one). Leases are judged by the
// database server's clock, so a wrong clock on one engine's host changes nothing
// about who holds which saga:
// - an engine whose clock runs 60 s ahead does not take over sagas another engine
//   holds under a valid lease (it saw every lease as expired, claimed them all,
//   the owner's transitions were refused with "lease lost" and its in-flight step
//   calls were made a second time);
// - an engine whose clock runs 60 s behind keeps the sagas it starts (its leases
//   were written already expired, and any other engine took them over at once);
// - either one's own leases run for leaseSeconds on the server's clock.
// The skew is EngineConfig::clockSkewMs: the engine's own clock readings (event
// times, updated_at) are off by it, as under faketime.

#include "enginehost.h"
#include "orderprogress.h"
#include "sagastore.h"
#include "testservices.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QtTest>

namespace {

constexpr int kLeaseSeconds = 6;  // renewals and claims every 2 s
constexpr int kStepDelayMs = 2500; // sagas stay in flight for ~7.5 s
constexpr qint64 kSkewMs = 60000;

struct Lease {
    QString owner;
    qint64 remainingMs = 0; // lease_expires_at minus the server's now
};

} // namespace

class tst_SkewedClock : public QObject
{
    Q_OBJECT

private:
    DatabaseUrl m_url;
    QString m_connection;

    EngineConfig config(const QString &engineId, qint64 skewMs) const
    {
        EngineConfig c;
        c.database = m_url;
        c.engineId = engineId;
        c.leaseSeconds = kLeaseSeconds;
        c.stepDelayMs = kStepDelayMs;
        c.clockSkewMs = skewMs;
        return c;
    }

    static bool start(EngineHost &host)
    {
        QSignalSpy started(&host, &EngineHost::started);
        host.start();
        return started.count() == 1 || started.wait(30000);
    }

    static void stopAll(std::initializer_list<EngineHost *> hosts)
    {
        int down = 0;
        for (EngineHost *h : hosts)
            h->shutdown(5000, [&] { ++down; });
        QTRY_VERIFY_WITH_TIMEOUT(down == int(hosts.size()), 30000);
    }

    static QVector<QUuid> submit(EngineHost &host, int count)
    {
        QObject context;
        QVector<QUuid> ids;
        int failures = 0;
        for (int i = 0; i < count; ++i) {
            OrderRequest r;
            r.customerId = QUuid::createUuid();
            r.items = {OrderItem{"widget", "Widget", 1, 500}};
            r.paymentMethodId = QStringLiteral("visa");
            r.shippingAddress = ShippingAddress{"1 Main", "Town", "ST", "12345", "US"};
            host.submitOrder(r, &context, [&](SubmitResult res) {
                if (res.error.ok())
                    ids << res.orderId;
                else
                    ++failures;
            });
        }
        if (!QTest::qWaitFor([&] { return ids.size() + failures == count; }, 30000) || failures > 0)
            return {};
        return ids;
    }

    // The leases of the unfinished executions, as the database server sees them.
    QMap<QString, Lease> leases() const
    {
        QMap<QString, Lease> r;
        QSqlQuery q(QSqlDatabase::database(m_connection));
        if (!q.exec("SELECT order_id, lease_owner, lease_expires_at - (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT "
                    "FROM saga_executions WHERE completed_at IS NULL")) {
            qWarning("leases: %s", qPrintable(q.lastError().text()));
            return r;
        }
        while (q.next())
            r.insert(q.value(0).toString(), Lease{q.value(1).toString(), q.value(2).toLongLong()});
        return r;
    }

    static QString idOf(const QUuid &id) { return id.toString(QUuid::WithoutBraces); }

    // None of `ids` is held by anyone but `owner`, and each lease runs out within
    // leaseSeconds (plus a margin) of the server's now, not a minute off.
    QString checkHeldBy(const QVector<QUuid> &ids, const QString &owner) const
    {
        const QMap<QString, Lease> now = leases();
        for (const QUuid &id : ids) {
            const auto it = now.constFind(idOf(id));
            if (it == now.constEnd())
                continue; // finished
            if (it->owner != owner)
                return QStringLiteral("order %1 is leased by %2, not %3").arg(idOf(id), it->owner, owner);
            if (it->remainingMs <= 0 || it->remainingMs > kLeaseSeconds * 1000 + 1000)
                return QStringLiteral("order %1's lease (%2) runs out in %3 ms by the server's clock, not within %4 s")
                    .arg(idOf(id), owner)
                    .arg(it->remainingMs)
                    .arg(kLeaseSeconds);
        }
        return {};
    }

    // Every order ran to COMPLETED, each step started once.
    static QString checkCompleted(SagaStore &store, const QVector<QUuid> &ids)
    {
        for (const QUuid &id : ids) {
            auto events = store.loadEvents(id);
            if (!events.ok())
                return events.error.message;
            OrderProgress p(id);
            QMap<QString, int> starts;
            for (const OrderEvent &e : std::as_const(events.value)) {
                if (p.apply(e).outcome != FoldResult::Applied)
                    return QStringLiteral("order %1: event %2 does not fold").arg(idOf(id)).arg(e.seq);
                if (e.type == EventType::StepStarted)
                    starts[e.details.value("idempotencyKey").toString()] += 1;
            }
            for (auto it = starts.cbegin(); it != starts.cend(); ++it) {
                if (it.value() != 1)
                    return QStringLiteral("%1 started %2 times").arg(it.key()).arg(it.value());
            }
            if (p.overallStatus != OverallStatus::Completed)
                return QStringLiteral("order %1 is %2").arg(idOf(id), toString(p.overallStatus));
        }
        return {};
    }

    static bool allTerminal(SagaStore &store, const QVector<QUuid> &ids)
    {
        for (const QUuid &id : ids) {
            auto p = store.loadProgress(id);
            if (!p.ok() || !p.value.isTerminal())
                return false;
        }
        return true;
    }

private Q_SLOTS:
    void init();
    void cleanup();
    void engineAheadTakesNoValidLease();
    void engineBehindKeepsItsLeases();
};

void tst_SkewedClock::init()
{
    QString error;
    const QString text = TestServices::newPostgresDatabase(&error);
    if (text.isEmpty())
        QFAIL(qPrintable(QStringLiteral("PostgreSQL could not be started: ") + error));
    m_url = *DatabaseUrl::parse(text, &error);
    m_connection = QStringLiteral("skew-checker-%1").arg(QRandomGenerator::global()->generate());
    QSqlDatabase db = m_url.addConnection(m_connection);
    QVERIFY2(db.open(), qPrintable(db.lastError().text()));
}

void tst_SkewedClock::cleanup()
{
    QSqlDatabase::database(m_connection, false).close();
    QSqlDatabase::removeDatabase(m_connection);
}

void tst_SkewedClock::engineAheadTakesNoValidLease()
{
    EngineHost healthy(config(QStringLiteral("engine-healthy"), 0));
    QVERIFY(start(healthy));
    const QVector<QUuid> held = submit(healthy, 6);
    QCOMPARE(held.size(), 6);
    QVERIFY2(checkHeldBy(held, "engine-healthy").isEmpty(), qPrintable(checkHeldBy(held, "engine-healthy")));

    // The engine whose clock is a minute ahead starts (claiming at once), then
    // claims again on its lease ticks while the healthy engine's sagas run.
    EngineHost ahead(config(QStringLiteral("engine-ahead"), kSkewMs));
    QSet<QUuid> touchedByAhead;
    connect(&ahead, &EngineHost::eventsCommitted, this, [&](const QVector<OrderEvent> &events) {
        for (const OrderEvent &e : events)
            touchedByAhead.insert(e.orderId);
    });
    QVERIFY(start(ahead));
    QVERIFY2(checkHeldBy(held, "engine-healthy").isEmpty(), qPrintable(checkHeldBy(held, "engine-healthy")));
    const QVector<QUuid> own = submit(ahead, 2);
    QCOMPARE(own.size(), 2);
    QVERIFY2(checkHeldBy(own, "engine-ahead").isEmpty(), qPrintable(checkHeldBy(own, "engine-ahead")));
    for (int tick = 0; tick < 4; ++tick) { // two lease periods' worth of claims and renewals
        QTest::qWait(kLeaseSeconds * 1000 / 3);
        QVERIFY2(checkHeldBy(held, "engine-healthy").isEmpty(), qPrintable(checkHeldBy(held, "engine-healthy")));
        QVERIFY2(checkHeldBy(own, "engine-ahead").isEmpty(), qPrintable(checkHeldBy(own, "engine-ahead")));
    }

    SagaStore store(m_url, QStringLiteral("skew-store-a"));
    QVERIFY(store.open().ok());
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(store, held + own), 60000);
    for (const QUuid &id : held)
        QVERIFY2(!touchedByAhead.contains(id), qPrintable(idOf(id) + " was driven by the engine whose clock is ahead"));
    const QString completed = checkCompleted(store, held + own);
    QVERIFY2(completed.isEmpty(), qPrintable(completed));
    stopAll({&healthy, &ahead});
}

void tst_SkewedClock::engineBehindKeepsItsLeases()
{
    EngineHost behind(config(QStringLiteral("engine-behind"), -kSkewMs));
    QVERIFY(start(behind));
    const QVector<QUuid> held = submit(behind, 6);
    QCOMPARE(held.size(), 6);
    // Straight from the commit that created them, before any renewal.
    QVERIFY2(checkHeldBy(held, "engine-behind").isEmpty(), qPrintable(checkHeldBy(held, "engine-behind")));

    EngineHost healthy(config(QStringLiteral("engine-healthy"), 0));
    QSet<QUuid> touchedByHealthy;
    connect(&healthy, &EngineHost::eventsCommitted, this, [&](const QVector<OrderEvent> &events) {
        for (const OrderEvent &e : events)
            touchedByHealthy.insert(e.orderId);
    });
    QVERIFY(start(healthy));
    for (int tick = 0; tick < 4; ++tick) {
        QTest::qWait(kLeaseSeconds * 1000 / 3);
        QVERIFY2(checkHeldBy(held, "engine-behind").isEmpty(), qPrintable(checkHeldBy(held, "engine-behind")));
    }

    SagaStore store(m_url, QStringLiteral("skew-store-b"));
    QVERIFY(store.open().ok());
    QTRY_VERIFY_WITH_TIMEOUT(allTerminal(store, held), 60000);
    for (const QUuid &id : held)
        QVERIFY2(!touchedByHealthy.contains(id), qPrintable(idOf(id) + " was taken over from the engine whose clock is behind"));
    const QString completed = checkCompleted(store, held);
    QVERIFY2(completed.isEmpty(), qPrintable(completed));
    stopAll({&behind, &healthy});
}

QTEST_GUILESS_MAIN(tst_SkewedClock)
#include "tst_skewedclock.moc"
