// Two saga-servers (in-process ServerRuntimes, each with its own engine) on one
// database: each sees the other's committed events through its EventFeed
// (PostgreSQL: LISTEN/NOTIFY; SQLite: polling the file) in its status cache, its
// per-order streams and its all-orders stream; after its listener connection is
// killed a server reconnects and catches up (PostgreSQL). No timed assertions:
// waits only bound a failure.

#include "eventfeed.h"
#include "jwtverifier.h"
#include "rawhttp.h"
#include "runtimewait.h"
#include "sagaserver.h"
#include "serverruntime.h"
#include "testservices.h"

#include <QJsonArray>
#include <QLoggingCategory>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QTest>

namespace {

const QByteArray kKey = QByteArrayLiteral("cluster-test-secret-0c9b8a7d6e5f");

QByteArray orderJson(const QUuid &customer)
{
    const QJsonObject body{
        {"customerId", customer.toString(QUuid::WithoutBraces)},
        {"items", QJsonArray{QJsonObject{{"productId", "widget-1"}, {"productName", "Widget"}, {"quantity", 1},
                                         {"unitPriceInCents", 999}}}},
        {"paymentMethodId", "good-card"},
        {"shippingAddress", QJsonObject{{"street", "1 Main St"}, {"city", "Springfield"}, {"state", "IL"},
                                        {"postalCode", "62701"}, {"country", "US"}}}};
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

QList<SseEvent> eventsOf(const SseReader &reader, const QString &orderId)
{
    QList<SseEvent> out;
    for (const SseEvent &e : reader.events()) {
        if (e.json().value("orderId").toString() == orderId)
            out.append(e);
    }
    return out;
}

} // namespace

class TestServerCluster : public QObject
{
    Q_OBJECT
public:
    explicit TestServerCluster(bool postgres)
        : m_postgres(postgres)
    {
    }

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void orderPlacedOnAIsSeenOnB();
    void killedListenerReconnectsAndCatchesUp();
    void sameKeyOnBothServersPlacesOneOrder();
    void readConnectionsEndedByTheServerAreReplaced();
    void streamResumedAtAnEndThisServerHasNotSeenEnds();

private:
    std::unique_ptr<ServerRuntime> startRuntime(const DatabaseUrl &url, int stepDelayMs, int feedCheckMs);
    QString place(quint16 port, int waitSeconds);

    bool m_postgres;
    QString m_databaseName; // PostgreSQL
    std::unique_ptr<ServerRuntime> m_a;
    std::unique_ptr<ServerRuntime> m_b;
    QUuid m_customer = QUuid::createUuid();
    QByteArray m_customerToken, m_supportToken;
};

std::unique_ptr<ServerRuntime> TestServerCluster::startRuntime(const DatabaseUrl &url, int stepDelayMs, int feedCheckMs)
{
    ServerConfig config;
    config.listenAddress = QHostAddress::LocalHost;
    config.listenPort = 0;
    config.authKey = kKey;
    config.engine.database = url;
    config.engine.stepDelayMs = stepDelayMs;
    config.engine.retryCooldownSeconds = 0;
    config.feedCheckMs = feedCheckMs;
    auto runtime = std::make_unique<ServerRuntime>(config);
    if (const QString notStarted = startAndWait(*runtime); !notStarted.isEmpty()) {
        qWarning("%s", qPrintable(notStarted));
        return nullptr;
    }
    return runtime;
}

void TestServerCluster::initTestCase()
{
    QString error;
    const QString url = m_postgres ? TestServices::newPostgresDatabase(&error)
                                   : QStringLiteral("sqlite:%1/cluster-%2.sqlite")
                                         .arg(TestServices::tempDir())
                                         .arg(QDateTime::currentMSecsSinceEpoch());
    if (url.isEmpty())
        QFAIL(qPrintable(QStringLiteral("PostgreSQL could not be started: ") + error));
    const auto parsed = DatabaseUrl::parse(url, &error);
    QVERIFY2(parsed, qPrintable(error));
    m_databaseName = parsed->database;
    // A runs the sagas placed on it (slow steps: they are in flight for a while);
    // B checks its listener rarely, so a killed connection stays down for a while.
    m_a = startRuntime(*parsed, 150, 200);
    QVERIFY(m_a);
    m_b = startRuntime(*parsed, 150, 3000);
    QVERIFY(m_b);
    QVERIFY(m_a->server()->eventFeed() && m_b->server()->eventFeed());
    QTRY_VERIFY_WITH_TIMEOUT(m_b->server()->eventFeed()->isListening(), 60000);
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    m_customerToken = JwtVerifier::mint(kKey, m_customer, {}, 3600, now);
    m_supportToken = JwtVerifier::mint(kKey, QUuid::createUuid(), {QStringLiteral("SUPPORT")}, 3600, now);
}

void TestServerCluster::cleanupTestCase()
{
    for (std::unique_ptr<ServerRuntime> *runtime : {&m_b, &m_a}) {
        if (!*runtime)
            continue;
        QVERIFY(shutDownAndWait(**runtime));
        runtime->reset();
    }
}

QString TestServerCluster::place(quint16 port, int waitSeconds)
{
    HeaderList headers;
    if (waitSeconds > 0)
        headers.append({"Prefer", "wait=" + QByteArray::number(waitSeconds)});
    const HttpResult r = http(port, "POST", QStringLiteral("/api/orders"), m_customerToken, orderJson(m_customer), headers);
    if (r.status != 201 && r.status != 202) {
        qWarning() << "POST /api/orders answered" << r.status << r.body;
        return {};
    }
    return r.json().value("orderId").toString();
}

void TestServerCluster::orderPlacedOnAIsSeenOnB()
{
    const quint16 a = m_a->port();
    const quint16 b = m_b->port();
    SseReader allA(a, QStringLiteral("/api/orders/stream"), m_supportToken);
    SseReader allB(b, QStringLiteral("/api/orders/stream"), m_supportToken);
    QTRY_VERIFY_WITH_TIMEOUT(allA.comments() >= 1 && allB.comments() >= 1, 60000);

    const QString orderId = place(a, 0);
    QVERIFY(!orderId.isEmpty());
    // B knows the order (from the store) while A runs it...
    const HttpResult early = http(b, "GET", "/api/orders/" + orderId + "/status", m_customerToken);
    QCOMPARE(early.status, 200);
    QVERIFY2(early.json().value("overallStatus").toString() != QLatin1String("COMPLETED"), early.body.constData());
    // ...and its per-order stream on B follows A's saga to the end.
    SseReader streamB(b, "/api/orders/" + orderId + "/status/stream", m_customerToken);
    QTRY_VERIFY_WITH_TIMEOUT(streamB.closed(), 60000);
    QCOMPARE(streamB.status(), 200);
    QVERIFY(!streamB.events().isEmpty());
    QCOMPARE(streamB.events().first().event, QByteArray("snapshot"));
    QCOMPARE(streamB.events().last().event, QByteArray("SAGA_COMPLETED"));

    // B's cached status follows (it was cached before the saga ended).
    QTRY_COMPARE_WITH_TIMEOUT(http(b, "GET", "/api/orders/" + orderId + "/status", m_customerToken)
                                  .json().value("overallStatus").toString(),
                              QStringLiteral("COMPLETED"), 60000);

    // B's all-orders stream carries the same events as A's, same positions, same bytes.
    QTRY_COMPARE_WITH_TIMEOUT(eventsOf(allB, orderId).size(), 8, 60000);
    QTRY_COMPARE_WITH_TIMEOUT(eventsOf(allA, orderId).size(), 8, 60000);
    const QList<SseEvent> onA = eventsOf(allA, orderId);
    const QList<SseEvent> onB = eventsOf(allB, orderId);
    for (int i = 0; i < onB.size(); ++i) {
        QCOMPARE(onB[i].id, onA[i].id);
        QCOMPARE(onB[i].event, onA[i].event);
        QCOMPARE(onB[i].data, onA[i].data);
    }
    // An order placed on B shows up on A the same way (both directions).
    const QString fromB = place(b, 30);
    QVERIFY(!fromB.isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(eventsOf(allA, fromB).size(), 8, 60000);
    QCOMPARE(eventsOf(allA, fromB).last().event, QByteArray("SAGA_COMPLETED"));
    // A's own orders still reach its stream after B took positions in between
    // (on SQLite, A's stream waited for B's positions forever: it never read them).
    const QString again = place(a, 30);
    QVERIFY(!again.isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(eventsOf(allA, again).size(), 8, 60000);
    QTRY_COMPARE_WITH_TIMEOUT(eventsOf(allB, again).size(), 8, 60000);
    // Each stream's positions are consecutive: nothing lost, nothing twice.
    for (const SseReader *reader : {&allA, &allB}) {
        const QList<SseEvent> events = reader->events();
        for (int i = 1; i < events.size(); ++i)
            QCOMPARE(events[i].id.toLongLong(), events[i - 1].id.toLongLong() + 1);
    }
}

void TestServerCluster::killedListenerReconnectsAndCatchesUp()
{
    const quint16 a = m_a->port();
    const quint16 b = m_b->port();
    EventFeed *feed = m_b->server()->eventFeed();
    QTRY_VERIFY_WITH_TIMEOUT(feed->isListening() && feed->backendPid() > 0, 60000);
    const qint64 pid = feed->backendPid();
    const quint64 reconnectsBefore = feed->reconnects();
    SseReader allB(b, QStringLiteral("/api/orders/stream"), m_supportToken);
    QTRY_VERIFY_WITH_TIMEOUT(allB.comments() >= 1, 60000);

    QString error;
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("SELECT pg_terminate_backend(%1)").arg(pid), &error),
             qPrintable(error));
    // Committed while B's listener is gone: its NOTIFYs never reach B.
    const QStringList orders{place(a, 30), place(a, 30)};
    QVERIFY(!orders.contains(QString()));

    // B finds out, reconnects on a new connection and catches up from its last position.
    QTRY_VERIFY_WITH_TIMEOUT(feed->reconnects() > reconnectsBefore, 60000);
    QTRY_VERIFY_WITH_TIMEOUT(feed->isListening() && feed->backendPid() != pid, 60000);
    for (const QString &orderId : orders) {
        QTRY_COMPARE_WITH_TIMEOUT(eventsOf(allB, orderId).size(), 8, 60000);
        QCOMPARE(eventsOf(allB, orderId).last().event, QByteArray("SAGA_COMPLETED"));
        QCOMPARE(http(b, "GET", "/api/orders/" + orderId + "/status", m_customerToken).json().value("overallStatus").toString(),
                 QStringLiteral("COMPLETED"));
    }
    const QList<SseEvent> events = allB.events();
    for (int i = 1; i < events.size(); ++i)
        QCOMPARE(events[i].id.toLongLong(), events[i - 1].id.toLongLong() + 1);

    // And it listens again: the next order arrives live.
    const QString after = place(a, 30);
    QVERIFY(!after.isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(eventsOf(allB, after).size(), 8, 60000);
}

// The same Idempotency-Key sent to both servers at once, next to orders without
// a key: one order per key, every request answered with it, and every order
// without a key accepted (a duplicate refuses no one else's transition).
void TestServerCluster::sameKeyOnBothServersPlacesOneOrder()
{
    const QUuid customer = QUuid::createUuid();
    const QByteArray token = JwtVerifier::mint(kKey, customer, {}, 3600, QDateTime::currentSecsSinceEpoch());
    const int keys = 12;
    std::vector<std::unique_ptr<HttpCall>> keyed;
    std::vector<std::unique_ptr<HttpCall>> plain;
    for (int i = 0; i < keys; ++i) {
        for (const quint16 port : {m_a->port(), m_b->port()}) {
            keyed.push_back(std::make_unique<HttpCall>(
                port, HttpCall::build("POST", "/api/orders", token, orderJson(customer),
                                      {{"Idempotency-Key", "cluster-" + QByteArray::number(i)}, {"Prefer", "wait=60"}})));
            plain.push_back(std::make_unique<HttpCall>(
                port, HttpCall::build("POST", "/api/orders", token, orderJson(customer), {{"Prefer", "wait=60"}})));
        }
    }
    waitAll(keyed, 120000);
    waitAll(plain, 120000);
    QSet<QString> ids;
    for (int i = 0; i < keys; ++i) {
        const HttpResult &onA = keyed[size_t(2 * i)]->result();
        const HttpResult &onB = keyed[size_t(2 * i + 1)]->result();
        QVERIFY2(onA.status == 201 || onA.status == 202, onA.raw.left(300).constData());
        QVERIFY2(onB.status == 201 || onB.status == 202, onB.raw.left(300).constData());
        QCOMPARE(onB.json().value("orderId").toString(), onA.json().value("orderId").toString());
        ids.insert(onA.json().value("orderId").toString());
    }
    QCOMPARE(ids.size(), keys);
    for (const auto &call : plain) {
        const HttpResult &r = call->result();
        QVERIFY2(r.status == 201, r.raw.left(300).constData());
        QCOMPARE(r.json().value("status").toString(), QStringLiteral("COMPLETED"));
        ids.insert(r.json().value("orderId").toString());
    }
    const HttpResult list = http(m_a->port(), "GET", "/api/orders/customer/" + customer.toString(QUuid::WithoutBraces), token);
    QCOMPARE(list.jsonArray().size(), keys + int(plain.size()));
    QCOMPARE(ids.size(), keys + int(plain.size()));
    // Each keyed order ran once (one SAGA_STARTED) and ended.
    for (int i = 0; i < keys; ++i) {
        const QString id = keyed[size_t(2 * i)]->result().json().value("orderId").toString();
        QTRY_COMPARE_WITH_TIMEOUT(http(m_a->port(), "GET", "/api/orders/" + id + "/status", token)
                                      .json().value("overallStatus").toString(),
                                  QStringLiteral("COMPLETED"), 60000);
        int started = 0;
        for (const QJsonValue &e : http(m_b->port(), "GET", "/api/orders/" + id + "/events", token).jsonArray())
            started += e.toObject().value("eventType").toString() == QLatin1String("SAGA_STARTED");
        QCOMPARE(started, 1);
    }
}

// PostgreSQL ends every connection while the servers sit idle (as a restart
// does): the next reads are answered from new connections. Each read thread's
// first read found out by failing: a 503, one per thread, seconds after the
// engine said the database was back.
void TestServerCluster::readConnectionsEndedByTheServerAreReplaced()
{
    const QString id = place(m_a->port(), 30);
    QVERIFY(!id.isEmpty());
    const QString path = "/api/orders/" + id + "/history";
    for (int i = 0; i < 4; ++i) // the read threads have their connections
        QCOMPARE(http(m_b->port(), "GET", path, m_customerToken).status, 200);

    QString error;
    QVERIFY2(TestServices::postgresAdmin(
                 QStringLiteral("SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity "
                                "WHERE datname = '%1' AND pid <> pg_backend_pid()")
                     .arg(m_databaseName),
                 &error),
             qPrintable(error)); // returns once they have exited (their goodbye sent)
    for (int i = 0; i < 6; ++i) {
        const HttpResult r = http(m_b->port(), "GET", path, m_customerToken);
        QVERIFY2(r.status == 200, qPrintable(QStringLiteral("read %1 after the connections ended: %2 %3")
                                                 .arg(i + 1)
                                                 .arg(r.status)
                                                 .arg(QString::fromUtf8(r.body))));
        QCOMPARE(r.json().value("orderId").toString(), id);
    }
    // The engines reconnect too: an order placed now completes.
    const QString after = place(m_a->port(), 60);
    QVERIFY(!after.isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(
        http(m_a->port(), "GET", "/api/orders/" + after + "/status", m_customerToken).json().value("overallStatus").toString(),
        QStringLiteral("COMPLETED"), 60000);
}

// A per-order stream resumed at the end of an order another server ran, on a
// server whose status cache has not followed it there (its listener was killed
// and it checks rarely): nothing more will come, so 204. It went live at that id
// instead, and when the order's last events arrived they were skipped as already
// sent, the end's included: the stream stayed open with heartbeats until the
// token expired.
void TestServerCluster::streamResumedAtAnEndThisServerHasNotSeenEnds()
{
    if (!m_postgres)
        QSKIP("PostgreSQL's listener is what is killed here");
    std::unique_ptr<ServerRuntime> stale = startRuntime(m_a->config().engine.database, 150, 3600 * 1000);
    QVERIFY(stale);
    auto stop = qScopeGuard([&stale] { QVERIFY(shutDownAndWait(*stale)); });
    EventFeed *feed = stale->server()->eventFeed();
    QTRY_VERIFY_WITH_TIMEOUT(feed->isListening() && feed->backendPid() > 0, 60000);
    QString error;
    QVERIFY2(TestServices::postgresAdmin(QStringLiteral("SELECT pg_terminate_backend(%1, 30000)").arg(feed->backendPid()),
                                         &error),
             qPrintable(error));

    // A's saga waits at its last step while the stale server reads the order.
    const QByteArray delay = R"({"steps":{"Shipping Arrangement":{"kind":"DELAY","delayMs":3000,"once":true}}})";
    QCOMPARE(http(m_a->port(), "PUT", QStringLiteral("/api/simulator/faults"), m_supportToken, delay).status, 200);
    auto reset = qScopeGuard([this] {
        http(m_a->port(), "PUT", QStringLiteral("/api/simulator/faults"), m_supportToken, "{\"steps\":{}}");
    });
    const QString id = place(m_a->port(), 0);
    QVERIFY(!id.isEmpty());
    const QString status = "/api/orders/" + id + "/status";
    const HttpResult early = http(stale->port(), "GET", status, m_customerToken);
    QCOMPARE(early.status, 200);
    QVERIFY2(early.json().value("overallStatus").toString() != QLatin1String("COMPLETED"), early.body.constData());
    QTRY_COMPARE_WITH_TIMEOUT(http(m_a->port(), "GET", status, m_customerToken).json().value("overallStatus").toString(),
                              QStringLiteral("COMPLETED"), 60000);
    const QJsonArray events = http(m_a->port(), "GET", "/api/orders/" + id + "/events", m_customerToken).jsonArray();
    QCOMPARE(events.size(), 8);
    const QByteArray lastId = QByteArray::number(events.last().toObject().value("id").toInteger());
    // (The stale server still has the order where it read it.)
    QVERIFY(http(stale->port(), "GET", status, m_customerToken).json().value("overallStatus").toString()
            != QLatin1String("COMPLETED"));

    SseReader atEnd(stale->port(), "/api/orders/" + id + "/status/stream", m_customerToken, {{"Last-Event-ID", lastId}});
    QTRY_VERIFY_WITH_TIMEOUT(atEnd.status() != 0 || atEnd.closed(), 60000);
    QCOMPARE(atEnd.status(), 204);
    QCOMPARE(atEnd.events().size(), 0);
    // One before the end still gets the end.
    SseReader beforeEnd(stale->port(), "/api/orders/" + id + "/status/stream", m_customerToken,
                        {{"Last-Event-ID", QByteArray::number(lastId.toLongLong() - 1)}});
    QTRY_VERIFY_WITH_TIMEOUT(beforeEnd.closed(), 60000);
    QCOMPARE(beforeEnd.status(), 200);
    QCOMPARE(beforeEnd.events().size(), 1);
    QCOMPARE(beforeEnd.events().first().event, QByteArray("SAGA_COMPLETED"));
}

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QLoggingCategory::setFilterRules(QStringLiteral("saga.*.debug=false"));
    int status = 0;
    {
        TestServerCluster postgres(true);
        status |= QTest::qExec(&postgres, argc, argv);
    }
    {
        // Two servers on one SQLite file; the listener test is PostgreSQL's alone
        // (there is no listening connection to kill), so it is not run here.
        TestServerCluster sqlite(false);
        QStringList arguments = app.arguments().mid(0, 1);
        if (app.arguments().size() > 1)
            arguments = app.arguments();
        else
            arguments << QStringLiteral("orderPlacedOnAIsSeenOnB") << QStringLiteral("sameKeyOnBothServersPlacesOneOrder");
        status |= QTest::qExec(&sqlite, arguments);
    }
    return status;
}

#include "tst_servercluster.moc"
