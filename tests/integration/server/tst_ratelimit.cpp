// saga-server's per-client limits over real HTTP on loopback (in-process
// servers on SQLite, each started with the limits its test is about): requests
// that create work beyond the burst get 429 with Retry-After and the JSON error
// shape and start nothing; other clients and reads go on; the bucket refills;
// requests without a valid token count by address; event streams per client;
// limits off. Then the RateLimiter itself on an injected clock (refill, rounding,
// idle buckets dropped, stream slots given back from another thread).

#include "enginehost.h"
#include "jwtverifier.h"
#include "ratelimiter.h"
#include "rawhttp.h"
#include "runtimewait.h"
#include "sagaserver.h"
#include "serverruntime.h"
#include "testservices.h"

#include <QRegularExpression>
#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <algorithm>

namespace {

const QByteArray kKey = QByteArrayLiteral("rate-limit-test-secret-8d7c6b5a4f3e");

QByteArray compact(const QJsonObject &o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

QJsonObject orderBody(const QUuid &customer, const QString &payment = QStringLiteral("good-card"))
{
    return QJsonObject{
        {"customerId", customer.toString(QUuid::WithoutBraces)},
        {"items", QJsonArray{QJsonObject{{"productId", "widget-1"}, {"productName", "Widget"}, {"quantity", 1},
                                         {"unitPriceInCents", 1250}}}},
        {"paymentMethodId", payment},
        {"shippingAddress", QJsonObject{{"street", "1 Main St"}, {"city", "Springfield"}, {"state", "IL"},
                                        {"postalCode", "62701"}, {"country", "US"}}}};
}

// A counter's value in the Prometheus text (-1 when the line is missing).
qint64 metric(const QByteArray &text, const QByteArray &series)
{
    for (const QByteArray &line : text.split('\n')) {
        if (line.startsWith(series + ' '))
            return line.mid(series.size() + 1).trimmed().toLongLong();
    }
    return -1;
}

// A 429 as the API promises it: Retry-After in whole seconds (>= 1), the JSON
// error shape with what was limited, a traceparent. Returns Retry-After.
int checkLimited(const HttpResult &r, const QString &limit)
{
    if (r.status != 429) {
        qWarning() << "expected 429, got" << r.status << r.body;
        return -1;
    }
    const QByteArray retryAfter = r.header("Retry-After");
    bool ok = false;
    const int seconds = retryAfter.toInt(&ok);
    const QJsonObject json = r.json();
    const QJsonObject details = json.value("details").toObject();
    const bool shaped = ok && seconds >= 1 && json.value("error").toString() == QLatin1String("RATE_LIMITED")
                        && json.value("message").toString().contains(QStringLiteral("try again in %1 s").arg(seconds))
                        && details.value("limit").toString() == limit && details.value("retryAfterSeconds").toInt() == seconds
                        && r.header("Content-Type").startsWith("application/json")
                        && QRegularExpression(QStringLiteral("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$"))
                               .match(QString::fromLatin1(r.header("traceparent")))
                               .hasMatch();
    if (!shaped) {
        qWarning() << "429 not as promised:" << r.raw.left(600);
        return -1;
    }
    return seconds;
}

} // namespace

class TestRateLimit : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanup();

    void placementsBeyondTheBurstAreRefused();
    void retriesAndFaultChangesShareTheBucket();
    void bucketRefillsAfterRetryAfter();
    void requestsWithoutAValidTokenCountByAddress();
    void streamsPerClientAreLimited();
    void limitsOff();

    void limiterRefillsAndRounds();
    void limiterDropsIdleBuckets();
    void streamSlotsComeBackFromAnyThread();

private:
    // A fresh server with these limits; its port in m_port.
    void startServer(double perSecond, double burst, int maxStreams, int streamRetryAfter = 5);
    HttpResult post(const QUuid &customer, const QByteArray &token, const QString &payment = QStringLiteral("good-card"),
                    const HeaderList &headers = {})
    {
        return http(m_port, "POST", QStringLiteral("/api/orders"), token, compact(orderBody(customer, payment)), headers);
    }
    QByteArray metricsText() { return http(m_port, "GET", QStringLiteral("/api/metrics"), m_supportToken).body; }
    int ordersOf(const QUuid &customer)
    {
        return http(m_port, "GET", "/api/orders/customer/" + customer.toString(QUuid::WithoutBraces), m_supportToken)
            .jsonArray()
            .size();
    }
    QByteArray client(const QUuid &subject) const { return "sub:" + subject.toByteArray(QUuid::WithoutBraces); }

    std::unique_ptr<ServerRuntime> m_runtime;
    quint16 m_port = 0;
    QUuid m_owner = QUuid::createUuid();
    QUuid m_other = QUuid::createUuid();
    QUuid m_supportId = QUuid::createUuid();
    QByteArray m_ownerToken, m_otherToken, m_supportToken;
};

void TestRateLimit::initTestCase()
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    m_ownerToken = JwtVerifier::mint(kKey, m_owner, {}, 3600, now);
    m_otherToken = JwtVerifier::mint(kKey, m_other, {}, 3600, now);
    m_supportToken = JwtVerifier::mint(kKey, m_supportId, {QStringLiteral("SUPPORT")}, 3600, now);
}

void TestRateLimit::cleanup()
{
    if (m_runtime) {
        QVERIFY(shutDownAndWait(*m_runtime));
        m_runtime.reset();
    }
}

void TestRateLimit::startServer(double perSecond, double burst, int maxStreams, int streamRetryAfter)
{
    ServerConfig config;
    config.listenAddress = QHostAddress::LocalHost;
    config.listenPort = 0;
    config.authKey = kKey;
    config.engine.retryCooldownSeconds = 0;
    config.engine.stepDelayMs = 2;
    config.rateLimitPerSecond = perSecond;
    config.rateLimitBurst = burst;
    config.maxStreamsPerClient = maxStreams;
    config.streamRetryAfterSeconds = streamRetryAfter;
    const QString file = TestServices::tempDir() + QStringLiteral("/rate-%1.db").arg(QUuid::createUuid().toString(QUuid::Id128));
    const auto url = DatabaseUrl::parse(QStringLiteral("sqlite:") + file, nullptr);
    QVERIFY(url);
    config.engine.database = *url;
    m_runtime = std::make_unique<ServerRuntime>(config);
    const QString notStarted = startAndWait(*m_runtime);
    QVERIFY2(notStarted.isEmpty(), qPrintable(notStarted));
    m_port = m_runtime->port();
    QVERIFY(m_port != 0);
}

// Three orders in the burst, the fourth refused: 429 as promised, no order made,
// no saga started; reads and another client go on as before.
void TestRateLimit::placementsBeyondTheBurstAreRefused()
{
    startServer(0.2, 3, 64); // one order every 5 s, 3 at once
    for (int i = 0; i < 3; ++i)
        QCOMPARE(post(m_owner, m_ownerToken).status, 202);
    const HttpResult refused = post(m_owner, m_ownerToken, QStringLiteral("good-card"), {{"Prefer", "wait=10"}});
    const int wait = checkLimited(refused, QStringLiteral("requests"));
    QVERIFY2(wait >= 1 && wait <= 5, qPrintable(QString::number(wait))); // 5 s a token, less what refilled meanwhile
    QVERIFY2(refused.json().value("message").toString().contains(QLatin1String("new orders")), refused.body.constData());

    // Nothing was started or recorded for it.
    QTRY_COMPARE_WITH_TIMEOUT(metric(metricsText(), "saga_completed_total"), 3, 60000);
    const QByteArray metrics = metricsText();
    QCOMPARE(metric(metrics, "saga_started_total"), 3);
    QCOMPARE(metric(metrics, "http_rate_limited_total{limit=\"requests\"}"), 1);
    QCOMPARE(metric(metrics, "http_rate_limited_total{limit=\"unauthenticated\"}"), 0);
    QCOMPARE(metric(metrics, "http_rate_limited_total{limit=\"streams\"}"), 0);
    QCOMPARE(metric(metrics, "http_requests_total{code=\"429\"}"), 1);
    QCOMPARE(ordersOf(m_owner), 3);

    // Cheap reads are never limited, however many.
    const QJsonArray mine = http(m_port, "GET", "/api/orders/customer/" + m_owner.toString(QUuid::WithoutBraces),
                                 m_ownerToken).jsonArray();
    QCOMPARE(mine.size(), 3);
    const QString id = mine.first().toObject().value("orderId").toString();
    for (int i = 0; i < 100; ++i)
        QCOMPARE(http(m_port, "GET", "/api/orders/" + id + "/status", m_ownerToken).status, 200);
    QCOMPARE(http(m_port, "GET", "/api/orders/" + id + "/history", m_ownerToken).status, 200);
    QCOMPARE(http(m_port, "GET", QStringLiteral("/api/orders?limit=10"), m_supportToken).status, 200);
    QCOMPARE(http(m_port, "GET", QStringLiteral("/health")).status, 200);

    // Another customer (another token subject) is not affected, nor SUPPORT.
    QCOMPARE(post(m_other, m_otherToken).status, 202);
    QCOMPARE(post(m_other, m_supportToken).status, 202);
    // The owner is, also on a new connection with a newly minted token of the same subject.
    const QByteArray fresh = JwtVerifier::mint(kKey, m_owner, {}, 600, QDateTime::currentSecsSinceEpoch());
    QVERIFY(checkLimited(post(m_owner, fresh), QStringLiteral("requests")) >= 1);
    QCOMPARE(ordersOf(m_owner), 3);
}

// POST /retry and PUT /simulator/faults take from the same bucket: refused, the
// order is not retried and the fault plan not changed.
void TestRateLimit::retriesAndFaultChangesShareTheBucket()
{
    startServer(0.1, 2, 64); // one every 10 s, 2 at once
    const HttpResult declined = post(m_owner, m_ownerToken, QStringLiteral("declined-card"), {{"Prefer", "wait=30"}});
    QCOMPARE(declined.status, 201);
    QCOMPARE(declined.json().value("overallStatus").toString(), QStringLiteral("ROLLED_BACK"));
    const QString id = declined.json().value("orderId").toString();
    // The bucket is empty now; the order has ended (no saga uses the fault plan below).
    QCOMPARE(post(m_owner, m_ownerToken, QStringLiteral("good-card"), {{"Prefer", "wait=30"}}).status, 201);
    const QString retryPath = "/api/orders/" + id + "/retry";
    const QByteArray attemptsBefore = http(m_port, "GET", retryPath + "/history", m_ownerToken).body;
    const HttpResult eligibleBefore = http(m_port, "GET", retryPath + "/eligibility", m_ownerToken);
    QCOMPARE(eligibleBefore.json().value("eligible").toBool(), true);

    const HttpResult retry = http(m_port, "POST", retryPath, m_ownerToken, R"({"paymentMethodId":"good-card"})");
    QVERIFY(checkLimited(retry, QStringLiteral("requests")) >= 1);
    QCOMPARE(http(m_port, "GET", retryPath + "/history", m_ownerToken).body, attemptsBefore);
    const HttpResult eligibleAfter = http(m_port, "GET", retryPath + "/eligibility", m_ownerToken);
    QCOMPARE(eligibleAfter.json().value("eligible").toBool(), true);
    QCOMPARE(eligibleAfter.json().value("retryCount").toInt(), eligibleBefore.json().value("retryCount").toInt());
    QCOMPARE(http(m_port, "GET", "/api/orders/" + id + "/status", m_ownerToken).json().value("overallStatus").toString(),
             QStringLiteral("ROLLED_BACK"));

    const QByteArray plan = R"({"steps":{"Shipping Arrangement":{"kind":"FAIL","errorCode":"SHIPPING_UNAVAILABLE","probability":1.0}}})";
    const QByteArray other = R"({"steps":{"Shipping Arrangement":{"kind":"FAIL","errorCode":"SHIPPING_UNAVAILABLE","probability":0.5}}})";
    QCOMPARE(http(m_port, "PUT", QStringLiteral("/api/simulator/faults"), m_supportToken, other).status, 200);
    const HttpResult inForce = http(m_port, "PUT", QStringLiteral("/api/simulator/faults"), m_supportToken, plan);
    QCOMPARE(inForce.status, 200);
    const HttpResult third = http(m_port, "PUT", QStringLiteral("/api/simulator/faults"), m_supportToken, other);
    QVERIFY(checkLimited(third, QStringLiteral("requests")) >= 1);
    const HttpResult now = http(m_port, "GET", QStringLiteral("/api/simulator/faults"), m_supportToken);
    QCOMPARE(now.status, 200);
    QCOMPARE(now.body, inForce.body); // the refused plan is not in force
    QCOMPARE(metric(metricsText(), "http_rate_limited_total{limit=\"requests\"}"), 2);
}

// A client that waits Retry-After gets through again.
void TestRateLimit::bucketRefillsAfterRetryAfter()
{
    startServer(1, 2, 64);
    QCOMPARE(post(m_owner, m_ownerToken).status, 202);
    QCOMPARE(post(m_owner, m_ownerToken).status, 202);
    const int wait = checkLimited(post(m_owner, m_ownerToken), QStringLiteral("requests"));
    QCOMPARE(wait, 1);
    QTest::qWait(wait * 1000); // what a client is told to do
    const HttpResult again = post(m_owner, m_ownerToken);
    QVERIFY2(again.status == 202, again.raw.left(400).constData());
    QCOMPARE(ordersOf(m_owner), 3);
}

// Requests refused 401 count against the peer address, so a token guesser is
// slowed down; a valid token from the same address is its own client.
void TestRateLimit::requestsWithoutAValidTokenCountByAddress()
{
    startServer(0.5, 3, 64);
    const QByteArray forged = JwtVerifier::mint("not-the-key", m_owner, {QStringLiteral("SUPPORT")}, 600,
                                                QDateTime::currentSecsSinceEpoch());
    QCOMPARE(http(m_port, "GET", QStringLiteral("/api/orders"), forged).status, 401);
    QCOMPARE(http(m_port, "GET", QStringLiteral("/api/orders"), {}).status, 401);
    const HttpResult third = http(m_port, "POST", QStringLiteral("/api/orders"), "x.y.z", compact(orderBody(m_owner)));
    QCOMPARE(third.status, 401);
    QCOMPARE(third.header("WWW-Authenticate"), QByteArray("Bearer"));
    const HttpResult guessing = http(m_port, "GET", QStringLiteral("/api/orders"), forged);
    QVERIFY(checkLimited(guessing, QStringLiteral("unauthenticated")) >= 1);
    QVERIFY(guessing.header("WWW-Authenticate").isEmpty());
    QVERIFY(checkLimited(http(m_port, "POST", QStringLiteral("/api/orders"), {}, compact(orderBody(m_owner))),
                         QStringLiteral("unauthenticated"))
            >= 1);

    // A valid token from the same address is not limited by that.
    QCOMPARE(http(m_port, "GET", QStringLiteral("/api/orders"), m_supportToken).status, 200);
    QCOMPARE(post(m_owner, m_ownerToken).status, 202);
    QCOMPARE(http(m_port, "GET", QStringLiteral("/health")).status, 200); // needs no token: never limited
    const QByteArray metrics = metricsText();
    QCOMPARE(metric(metrics, "http_rate_limited_total{limit=\"unauthenticated\"}"), 2);
    QCOMPARE(metric(metrics, "saga_started_total"), 1);
}

// At most N event streams per client at once; refused ones (404, HEAD) and ended
// ones give their place back; other clients have their own.
void TestRateLimit::streamsPerClientAreLimited()
{
    startServer(50, 200, 2, 3);
    const HttpResult placed = post(m_owner, m_ownerToken, QStringLiteral("good-card"), {{"Prefer", "wait=30"}});
    QCOMPARE(placed.status, 201);
    const QString id = placed.json().value("orderId").toString();

    // Refused or header-only streams hold no place.
    for (int i = 0; i < 3; ++i) {
        SseReader unknown(m_port, "/api/orders/" + QUuid::createUuid().toString(QUuid::WithoutBraces) + "/status/stream",
                          m_supportToken);
        QTRY_VERIFY_WITH_TIMEOUT(unknown.status() != 0, 30000);
        QCOMPARE(unknown.status(), 404);
        const HttpResult head = http(m_port, "HEAD", QStringLiteral("/api/orders/stream"), m_supportToken);
        QCOMPARE(head.status, 200);
    }
    // A stream that ended (the order's terminal snapshot) gives its place back.
    SseReader ended(m_port, "/api/orders/" + id + "/status/stream", m_supportToken);
    QTRY_VERIFY_WITH_TIMEOUT(ended.closed(), 30000);
    QCOMPARE(ended.status(), 200);
    QTRY_COMPARE_WITH_TIMEOUT(m_runtime->server()->rateLimiter().openStreams(client(m_supportId)), 0, 30000);

    SseReader first(m_port, QStringLiteral("/api/orders/stream"), m_supportToken);
    SseReader second(m_port, QStringLiteral("/api/orders/stream"), m_supportToken);
    QTRY_VERIFY_WITH_TIMEOUT(first.status() == 200 && second.status() == 200, 30000);
    SseReader third(m_port, QStringLiteral("/api/orders/stream"), m_supportToken);
    QTRY_VERIFY_WITH_TIMEOUT(third.closed() || third.status() != 0, 30000);
    QTRY_VERIFY_WITH_TIMEOUT(!third.body().isEmpty(), 30000);
    HttpResult refused;
    refused.status = third.status();
    refused.body = third.body();
    refused.raw = third.body();
    for (const QByteArray name : {"retry-after", "content-type", "traceparent"})
        refused.headers.insert(name, third.header(name));
    QCOMPARE(checkLimited(refused, QStringLiteral("streams")), 3);
    // Its per-order stream too; another client's streams are its own.
    SseReader perOrder(m_port, "/api/orders/" + id + "/status/stream", m_supportToken);
    QTRY_COMPARE_WITH_TIMEOUT(perOrder.status(), 429, 30000);
    SseReader owners(m_port, "/api/orders/" + id + "/status/stream", m_ownerToken, {{"Last-Event-ID", "0"}});
    QTRY_VERIFY_WITH_TIMEOUT(owners.closed(), 30000);
    QCOMPARE(owners.status(), 200);
    QCOMPARE(owners.events().size(), 8);
    const QByteArray otherSupport = JwtVerifier::mint(kKey, QUuid::createUuid(), {QStringLiteral("SUPPORT")}, 600,
                                                      QDateTime::currentSecsSinceEpoch());
    SseReader others(m_port, QStringLiteral("/api/orders/stream"), otherSupport);
    QTRY_COMPARE_WITH_TIMEOUT(others.status(), 200, 30000);
    QCOMPARE(metric(metricsText(), "http_rate_limited_total{limit=\"streams\"}"), 2);

    // A stream that closes gives its place back.
    first.close();
    QTRY_COMPARE_WITH_TIMEOUT(m_runtime->server()->rateLimiter().openStreams(client(m_supportId)), 1, 30000);
    SseReader again(m_port, QStringLiteral("/api/orders/stream"), m_supportToken);
    QTRY_COMPARE_WITH_TIMEOUT(again.status(), 200, 30000);
    QVERIFY(!second.closed());
}

// Limits off: one client places more than the default burst at once and opens
// more than the default number of streams.
void TestRateLimit::limitsOff()
{
    startServer(0, 200, 0);
    std::vector<std::unique_ptr<SseReader>> streams;
    for (int i = 0; i < 70; ++i)
        streams.push_back(std::make_unique<SseReader>(m_port, QStringLiteral("/api/orders/stream"), m_supportToken));
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(streams.cbegin(), streams.cend(), [](const auto &s) { return s->status() == 200; }),
                             60000);
    std::vector<std::unique_ptr<HttpCall>> calls;
    for (int i = 0; i < 220; ++i)
        calls.push_back(std::make_unique<HttpCall>(
            m_port, HttpCall::build("POST", "/api/orders", m_ownerToken, compact(orderBody(m_owner)), {})));
    waitAll(calls, 120000);
    for (const auto &c : calls)
        QCOMPARE(c->result().status, 202);
    QCOMPARE(m_runtime->server()->rateLimiter().trackedBuckets(), 0);
}

void TestRateLimit::limiterRefillsAndRounds()
{
    qint64 now = 1000;
    RateLimiter limiter(RateLimiter::Limits{0.3, 2, 0, 5}, [&now] { return now; });
    QCOMPARE(limiter.take("a"), 0);
    QCOMPARE(limiter.take("a"), 0);
    QCOMPARE(limiter.take("a"), 4); // 1 / 0.3 = 3.33 s: whole seconds, rounded up
    QCOMPARE(limiter.take("b"), 0); // its own bucket
    now += 2000;                    // 0.6 of a token
    QCOMPARE(limiter.take("a"), 2); // 0.4 missing: 1.33 s
    now += 1400;                    // 1.02 tokens
    QCOMPARE(limiter.take("a"), 0);
    QCOMPARE(limiter.take("a"), 4);
    now += 3600 * 1000;             // never more than the burst
    QCOMPARE(limiter.take("a"), 0);
    QCOMPARE(limiter.take("a"), 0);
    QVERIFY(limiter.take("a") > 0);

    RateLimiter off(RateLimiter::Limits{0, 1, 0, 5}, [&now] { return now; });
    for (int i = 0; i < 1000; ++i)
        QCOMPARE(off.take("a"), 0);
    QCOMPARE(off.trackedBuckets(), 0);
}

void TestRateLimit::limiterDropsIdleBuckets()
{
    qint64 now = 0;
    RateLimiter limiter(RateLimiter::Limits{10, 20, 0, 5}, [&now] { return now; }); // full again 2 s after empty
    for (int i = 0; i < 10000; ++i)
        QCOMPARE(limiter.take("client-" + QByteArray::number(i)), 0);
    QCOMPARE(limiter.trackedBuckets(), 10000);
    now += 1500; // full again, but not swept yet: at most once per 2 s
    for (int i = 0; i < 20; ++i)
        QCOMPARE(limiter.take("busy"), 0);
    QCOMPARE(limiter.trackedBuckets(), 10001);
    now += 600; // the sweep: every full bucket goes, "busy" (6 of 20) stays
    QCOMPARE(limiter.take("late"), 0);
    QCOMPARE(limiter.trackedBuckets(), 2);
    QCOMPARE(limiter.take("busy"), 0); // what it had left: not reset by the sweep
    for (int i = 0; i < 5; ++i)
        QCOMPARE(limiter.take("busy"), 0);
    QVERIFY(limiter.take("busy") > 0);
    now += 10000;
    QCOMPARE(limiter.take("next"), 0);
    QCOMPARE(limiter.trackedBuckets(), 1);
}

void TestRateLimit::streamSlotsComeBackFromAnyThread()
{
    RateLimiter limiter(RateLimiter::Limits{0, 1, 2, 7});
    std::shared_ptr<RateLimiter::StreamSlot> a, b, c;
    int wait = 0;
    QVERIFY(limiter.openStream("x", &a, &wait));
    QVERIFY(limiter.openStream("x", &b, &wait));
    QVERIFY(a && b);
    QVERIFY(!limiter.openStream("x", &c, &wait));
    QCOMPARE(wait, 7);
    QVERIFY(!c);
    QVERIFY(limiter.openStream("y", &c, &wait));
    QCOMPARE(limiter.openStreams("x"), 2);
    std::shared_ptr<RateLimiter::StreamSlot> copy = a;
    a.reset();
    QCOMPARE(limiter.openStreams("x"), 2); // a copy still holds it
    std::unique_ptr<QThread> thread(QThread::create([slot = std::move(copy)]() mutable { slot.reset(); }));
    thread->start();
    QVERIFY(thread->wait(10000));
    QCOMPARE(limiter.openStreams("x"), 1);
    QVERIFY(limiter.openStream("x", &a, &wait));
    a.reset();
    b.reset();
    c.reset();
    QCOMPARE(limiter.openStreams("x"), 0);
    QCOMPARE(limiter.openStreams("y"), 0);

    RateLimiter unlimited(RateLimiter::Limits{0, 1, 0, 5});
    std::shared_ptr<RateLimiter::StreamSlot> none;
    for (int i = 0; i < 100; ++i)
        QVERIFY(unlimited.openStream("x", &none, &wait));
}

QTEST_GUILESS_MAIN(TestRateLimit)
#include "tst_ratelimit.moc"
