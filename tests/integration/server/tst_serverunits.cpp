// Unit-style tests of the server's pieces that need no running server: the JWT
// verifier, trace context, routing, SSE framing, the error shape, the command line.

#include "apierror.h"
#include "enginehost.h"
#include "guardedtcpserver.h"
#include "globalsequencer.h"
#include "jwtverifier.h"
#include "routematcher.h"
#include "sagajson.h"
#include "servermetrics.h"
#include "servercommandline.h"
#include "serverruntime.h"
#include "sagastore.h"
#include "sseencoder.h"
#include "storepool.h"
#include "testservices.h"
#include "tracecontext.h"

#include <QFile>
#include <QJsonArray>
#include <QMessageAuthenticationCode>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace {
const QByteArray kKey = QByteArrayLiteral("unit-test-secret-0123456789abcdef");
const QUuid kCustomer = QUuid::fromString(QStringLiteral("550e8400-e29b-41d4-a716-446655440000"));

QByteArray b64(const QByteArray &data)
{
    return data.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}

QByteArray hmac(const QByteArray &key, const QByteArray &data, QCryptographicHash::Algorithm algorithm)
{
    return QMessageAuthenticationCode::hash(data, key, algorithm);
}

// A token built by hand, to forge what libjwt would never mint.
QByteArray handToken(const QByteArray &header, const QByteArray &payload, const QByteArray &key,
                     QCryptographicHash::Algorithm algorithm = QCryptographicHash::Sha256, bool sign = true)
{
    const QByteArray signingInput = b64(header) + '.' + b64(payload);
    return signingInput + '.' + (sign ? b64(hmac(key, signingInput, algorithm)) : QByteArray());
}
} // namespace

class TestServerUnits : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void jwtAcceptsMintedToken();
    void jwtRejects_data();
    void jwtRejects();
    void jwtLeeway();
    void jwtNumericDates();
    void jwtCacheHonoursExpiry();
    void jwtKeyFileTrimsTrailingWhitespace();
    void traceparentContinuedOrNew();
    void routes_data();
    void routes();
    void sseFraming();
    void sequencerOrdersPositions();
    void errorShape();
    void commandLine();
    void rateLimitFlags();
    void readPoolDoesNotRecreateADeletedDatabase();
    void stepDurationOfATakenOverStep();
    void acceptedConnectionsDetectAVanishedPeer();
    void shutdownWhileTheEngineStartsNeverListens();
    void portInUseIsFoundBeforeTheEngineStarts();
};

void TestServerUnits::jwtAcceptsMintedToken()
{
    const qint64 now = 1'700'000'000;
    JwtVerifier verifier(kKey);
    const QByteArray customer = JwtVerifier::mint(kKey, kCustomer, {}, 600, now);
    const auto r1 = verifier.verify(customer, now);
    QVERIFY2(r1.principal.has_value(), qPrintable(r1.error));
    QCOMPARE(r1.principal->subject, kCustomer);
    QVERIFY(!r1.principal->support);
    QCOMPARE(r1.principal->expiresAt, now + 600);

    const QByteArray support = JwtVerifier::mint(kKey, kCustomer, {QStringLiteral("SUPPORT")}, 600, now);
    const auto r2 = verifier.verify(support, now);
    QVERIFY(r2.principal && r2.principal->support);
    QVERIFY(r2.principal->mayAccess(QUuid::createUuid()));
    QVERIFY(r1.principal->mayAccess(kCustomer));
    QVERIFY(!r1.principal->mayAccess(QUuid::createUuid()));

    // A hand-made standard HS256 token (any JWT library) is accepted too.
    const QByteArray payload = QJsonDocument(QJsonObject{{"sub", kCustomer.toString(QUuid::WithoutBraces)},
                                                         {"exp", double(now + 60)},
                                                         {"roles", QJsonArray{"SUPPORT"}}})
                                   .toJson(QJsonDocument::Compact);
    const auto r3 = verifier.verify(handToken(R"({"alg":"HS256","typ":"JWT"})", payload, kKey), now);
    QVERIFY2(r3.principal && r3.principal->support, qPrintable(r3.error));
    const auto r4 = verifier.verify(handToken(R"({"typ":"jwt","alg":"HS256"})", payload, kKey), now);
    QVERIFY2(r4.principal, qPrintable(r4.error));
}

void TestServerUnits::jwtRejects_data()
{
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<QString>("why"); // part of the 401's message
    const qint64 now = 1'700'000'000;
    const QByteArray sub = kCustomer.toString(QUuid::WithoutBraces).toLatin1();
    const QByteArray good = "{\"sub\":\"" + sub + "\",\"exp\":" + QByteArray::number(now + 600) + "}";
    QTest::newRow("empty") << QByteArray() << QStringLiteral("not a JWT");
    QTest::newRow("garbage") << QByteArray("not-a-token") << QStringLiteral("not a JWT");
    QTest::newRow("two parts") << QByteArray("abc.def") << QStringLiteral("not a JWT");
    QTest::newRow("forged signature") << handToken(R"({"alg":"HS256","typ":"JWT"})", good, "another-secret") << QStringLiteral("signature is invalid");
    QTest::newRow("alg none") << handToken(R"({"alg":"none","typ":"JWT"})", good, kKey, QCryptographicHash::Sha256, false) << QStringLiteral("HS256");
    QTest::newRow("alg None spelled") << handToken(R"({"alg":"None"})", good, kKey, QCryptographicHash::Sha256, false) << QStringLiteral("HS256");
    QTest::newRow("alg HS512 same key") << handToken(R"({"alg":"HS512","typ":"JWT"})", good, kKey, QCryptographicHash::Sha512) << QStringLiteral("HS256");
    QTest::newRow("alg HS384 same key") << handToken(R"({"alg":"HS384","typ":"JWT"})", good, kKey, QCryptographicHash::Sha384) << QStringLiteral("HS256");
    QTest::newRow("alg RS256 header") << handToken(R"({"alg":"RS256"})", good, kKey) << QStringLiteral("HS256");
    QTest::newRow("expired") << JwtVerifier::mint(kKey, kCustomer, {}, 600, now - 3600) << QStringLiteral("expired");
    QTest::newRow("no exp") << handToken(R"({"alg":"HS256"})", "{\"sub\":\"" + sub + "\"}", kKey) << QStringLiteral("no exp");
    QTest::newRow("not yet valid") << handToken(R"({"alg":"HS256"})",
                                                "{\"sub\":\"" + sub + "\",\"exp\":" + QByteArray::number(now + 7200)
                                                    + ",\"nbf\":" + QByteArray::number(now + 3600) + "}", kKey) << QStringLiteral("not valid yet");
    QTest::newRow("sub not a uuid") << handToken(R"({"alg":"HS256"})",
                                                 "{\"sub\":\"bob\",\"exp\":" + QByteArray::number(now + 600) + "}", kKey) << QStringLiteral("subject");
    QTest::newRow("no sub") << handToken(R"({"alg":"HS256"})", "{\"exp\":" + QByteArray::number(now + 600) + "}", kKey) << QStringLiteral("subject");
    QByteArray tampered = JwtVerifier::mint(kKey, kCustomer, {}, 600, now);
    const QList<QByteArray> parts = tampered.split('.');
    const QByteArray escalated = b64("{\"sub\":\"" + sub + "\",\"exp\":" + QByteArray::number(now + 600)
                                     + ",\"roles\":[\"SUPPORT\"]}");
    QTest::newRow("payload swapped") << QByteArray(parts[0] + '.' + escalated + '.' + parts[2]) << QStringLiteral("signature is invalid");
    // Named precisely (they all said "the signature is invalid" or "not a JWT").
    const QByteArray exp = QByteArray::number(now + 600);
    QTest::newRow("crit extension") << handToken(R"({"alg":"HS256","crit":["x"],"x":1})", good, kKey)
                                    << QStringLiteral("critical extensions (crit)");
    QTest::newRow("typ foo") << handToken(R"({"alg":"HS256","typ":"foo"})", good, kKey) << QStringLiteral("typ");
    QTest::newRow("typ at+jwt") << handToken(R"({"alg":"HS256","typ":"at+jwt"})", good, kKey) << QStringLiteral("typ");
    QTest::newRow("header not JSON") << QByteArray(b64("{alg") + '.' + b64(good) + ".c2ln")
                                     << QStringLiteral("header is not base64url-encoded JSON");
    QTest::newRow("payload not JSON") << handToken(R"({"alg":"HS256"})", "not json", kKey)
                                      << QStringLiteral("payload is not base64url-encoded JSON");
    QTest::newRow("exp beyond 64 bits") << handToken(R"({"alg":"HS256"})",
                                                     "{\"sub\":\"" + sub + "\",\"exp\":9223372036854775808}", kKey)
                                        << QStringLiteral("cannot be read by the JWT library");
    QTest::newRow("over 8 KiB") << handToken(R"({"alg":"HS256"})",
                                             "{\"sub\":\"" + sub + "\",\"exp\":" + exp + ",\"pad\":\""
                                                 + QByteArray(9000, 'a') + "\"}", kKey)
                                << QStringLiteral("longer than 8192 bytes");
}

void TestServerUnits::jwtRejects()
{
    QFETCH(QByteArray, token);
    QFETCH(QString, why);
    JwtVerifier verifier(kKey);
    const auto result = verifier.verify(token, 1'700'000'000);
    QVERIFY(!result.principal.has_value());
    QVERIFY2(result.error.contains(why), qPrintable(result.error));
    QCOMPARE(verifier.cacheSize(), 0);
}

void TestServerUnits::jwtLeeway()
{
    const qint64 now = 1'700'000'000;
    const QByteArray token = JwtVerifier::mint(kKey, kCustomer, {}, 100, now); // exp = now + 100
    QVERIFY(JwtVerifier(kKey, 30).verify(token, now + 129).principal);
    QVERIFY(!JwtVerifier(kKey, 30).verify(token, now + 131).principal);
    // The leeway is capped at 60 s whatever is configured.
    QVERIFY(JwtVerifier(kKey, 3600).verify(token, now + 159).principal);
    QVERIFY(!JwtVerifier(kKey, 3600).verify(token, now + 161).principal);
}

void TestServerUnits::jwtNumericDates()
{
    // RFC 7519 NumericDate: any JSON number, fractional included (libjwt's
    // jwt_get_grant_int() read now + 600.5 as 0: "the token has expired").
    const qint64 now = 1'700'000'000;
    const QByteArray sub = kCustomer.toString(QUuid::WithoutBraces).toLatin1();
    auto token = [&sub](const QByteArray &claims) {
        return handToken(R"({"alg":"HS256","typ":"JWT"})", "{\"sub\":\"" + sub + "\"," + claims + "}", kKey);
    };
    JwtVerifier verifier(kKey, 0);
    const auto fractional = verifier.verify(token("\"exp\":1700000600.5"), now);
    QVERIFY2(fractional.principal, qPrintable(fractional.error));
    QCOMPARE(fractional.principal->expiresAt, now + 600); // floored
    QVERIFY(verifier.verify(token("\"exp\":1700000600.5,\"nbf\":1699999999.25"), now).principal);
    QVERIFY(verifier.verify(token("\"exp\":1.7000006e9"), now).principal);
    QCOMPARE(JwtVerifier(kKey, 0).verify(token("\"exp\":1699999999.5"), now).error, QStringLiteral("the token has expired"));
    QCOMPARE(JwtVerifier(kKey, 0).verify(token("\"exp\":1700000600,\"nbf\":1700000000.5"), now).error,
             QStringLiteral("the token is not valid yet"));
    // Anything else is said for what it is, not as an expired token.
    for (const QByteArray &exp : {QByteArray("\"1700000600\""), QByteArray("null"), QByteArray("true"),
                                  QByteArray("[1700000600]"), QByteArray("{}")}) {
        const auto result = JwtVerifier(kKey, 0).verify(token("\"exp\":" + exp), now);
        QVERIFY(!result.principal);
        QCOMPARE(result.error, QStringLiteral("exp must be a number"));
    }
    const auto badNbf = JwtVerifier(kKey, 0).verify(token("\"exp\":1700000600,\"nbf\":\"soon\""), now);
    QVERIFY(!badNbf.principal);
    QCOMPARE(badNbf.error, QStringLiteral("nbf must be a number"));
    QCOMPARE(JwtVerifier(kKey, 0).verify(token("\"iat\":1700000000"), now).error, QStringLiteral("the token has no exp claim"));
    // Far-future dates do not overflow into the past.
    QVERIFY(JwtVerifier(kKey, 0).verify(token("\"exp\":1e300"), now).principal);
    QCOMPARE(JwtVerifier(kKey, 0).verify(token("\"exp\":-1e300"), now).error, QStringLiteral("the token has expired"));
}

void TestServerUnits::jwtCacheHonoursExpiry()
{
    const qint64 now = 1'700'000'000;
    JwtVerifier verifier(kKey, 0);
    const QByteArray token = JwtVerifier::mint(kKey, kCustomer, {}, 10, now);
    QVERIFY(verifier.verify(token, now).principal);
    QCOMPARE(verifier.cacheSize(), 1);
    QVERIFY(verifier.verify(token, now + 5).principal);
    QVERIFY(!verifier.verify(token, now + 11).principal);
    QCOMPARE(verifier.cacheSize(), 0);
}

void TestServerUnits::jwtKeyFileTrimsTrailingWhitespace()
{
    const QString path = TestServices::tempDir() + QStringLiteral("/secret");
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("  s3cret \n\t\n");
    file.close();
    QString error;
    QCOMPARE(JwtVerifier::readKeyFile(path, &error), QByteArray("  s3cret"));
    QVERIFY(JwtVerifier::readKeyFile(path + QStringLiteral(".missing"), &error).isEmpty());
    QVERIFY(!error.isEmpty());

    // Only ASCII whitespace goes (what rstrip() in other JWT tools removes): a binary
    // key ending in 0xA0 or 0x85 keeps those bytes.
    const QByteArray binary = QByteArray("k3y\x85\xA0", 5);
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(binary + "\r\n");
    file.close();
    QCOMPARE(JwtVerifier::readKeyFile(path, &error), binary);

    // Larger than 64 KiB: refused, not cut silently (a token minted elsewhere with
    // the whole file would never verify).
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(QByteArray(65 * 1024, 'k'));
    file.close();
    error.clear();
    QVERIFY(JwtVerifier::readKeyFile(path, &error).isEmpty());
    QVERIFY2(error.contains(QLatin1String("64 KiB")), qPrintable(error));
}

void TestServerUnits::traceparentContinuedOrNew()
{
    const QByteArray incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const TraceContext continued = TraceContext::continueOrStart(incoming);
    QCOMPARE(continued.traceId(), QByteArray("4bf92f3577b34da6a3ce929d0e0e4736"));
    QVERIFY(continued.spanId() != "00f067aa0ba902b7");
    QVERIFY(continued.traceparent().startsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    QCOMPARE(continued.traceparent().size(), 55);

    const QList<QByteArray> invalid{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                                    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                                    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                                    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
    for (const QByteArray &value : invalid) {
        const TraceContext fresh = TraceContext::continueOrStart(value);
        QVERIFY(TraceContext::isValidTraceId(fresh.traceId()));
        QVERIFY(fresh.traceId() != "4bf92f3577b34da6a3ce929d0e0e4736");
    }
    QVERIFY(TraceContext::start().traceId() != TraceContext::start().traceId());
}

void TestServerUnits::routes_data()
{
    using R = RouteMatcher::Route;
    using M = RouteMatcher::Method;
    QTest::addColumn<int>("method");
    QTest::addColumn<QString>("path");
    QTest::addColumn<int>("route");
    QTest::addColumn<bool>("allowed");
    QTest::addColumn<QByteArray>("allow");
    const QString id = QStringLiteral("550e8400-e29b-41d4-a716-446655440000");
    QTest::newRow("create") << int(M::Post) << "/api/orders" << int(R::CreateOrder) << true << QByteArray("GET, HEAD, POST");
    QTest::newRow("list") << int(M::Get) << "/api/orders" << int(R::ListOrders) << true << QByteArray("GET, HEAD, POST");
    QTest::newRow("list put") << int(M::Put) << "/api/orders" << int(R::ListOrders) << false << QByteArray("GET, HEAD, POST");
    QTest::newRow("stream") << int(M::Get) << "/api/orders/stream" << int(R::AllOrdersStream) << true << QByteArray("GET, HEAD");
    QTest::newRow("customer") << int(M::Get) << "/api/orders/customer/" + id << int(R::CustomerOrders) << true << QByteArray("GET, HEAD");
    QTest::newRow("order") << int(M::Get) << "/api/orders/" + id << int(R::Order) << true << QByteArray("GET, HEAD");
    QTest::newRow("order delete") << int(M::Other) << "/api/orders/" + id << int(R::Order) << false << QByteArray("GET, HEAD");
    QTest::newRow("status") << int(M::Get) << "/api/orders/" + id + "/status" << int(R::Status) << true << QByteArray("GET, HEAD");
    QTest::newRow("status post") << int(M::Post) << "/api/orders/" + id + "/status" << int(R::Status) << false << QByteArray("GET, HEAD");
    QTest::newRow("status stream") << int(M::Get) << "/api/orders/" + id + "/status/stream" << int(R::StatusStream) << true << QByteArray("GET, HEAD");
    QTest::newRow("history") << int(M::Get) << "/api/orders/" + id + "/history" << int(R::History) << true << QByteArray("GET, HEAD");
    QTest::newRow("events") << int(M::Get) << "/api/orders/" + id + "/events" << int(R::Events) << true << QByteArray("GET, HEAD");
    QTest::newRow("eligibility") << int(M::Get) << "/api/orders/" + id + "/retry/eligibility" << int(R::RetryEligibility) << true << QByteArray("GET, HEAD");
    QTest::newRow("retry") << int(M::Post) << "/api/orders/" + id + "/retry" << int(R::Retry) << true << QByteArray("POST");
    QTest::newRow("retry get") << int(M::Get) << "/api/orders/" + id + "/retry" << int(R::Retry) << false << QByteArray("POST");
    QTest::newRow("retry history") << int(M::Get) << "/api/orders/" + id + "/retry/history" << int(R::RetryHistory) << true << QByteArray("GET, HEAD");
    QTest::newRow("faults get") << int(M::Get) << "/api/simulator/faults" << int(R::GetFaults) << true << QByteArray("GET, HEAD, PUT");
    QTest::newRow("faults put") << int(M::Put) << "/api/simulator/faults" << int(R::PutFaults) << true << QByteArray("GET, HEAD, PUT");
    QTest::newRow("faults post") << int(M::Post) << "/api/simulator/faults" << int(R::GetFaults) << false << QByteArray("GET, HEAD, PUT");
    QTest::newRow("health") << int(M::Get) << "/health" << int(R::Health) << true << QByteArray("GET, HEAD");
    QTest::newRow("api health") << int(M::Get) << "/api/health" << int(R::Health) << true << QByteArray("GET, HEAD");
    QTest::newRow("metrics") << int(M::Get) << "/metrics" << int(R::Metrics) << true << QByteArray("GET, HEAD");
    QTest::newRow("unknown") << int(M::Get) << "/api/nothing" << int(R::None) << false << QByteArray();
    QTest::newRow("unknown sub") << int(M::Get) << "/api/orders/" + id + "/nothing" << int(R::None) << false << QByteArray();
    QTest::newRow("double slash") << int(M::Get) << "/api/orders//status" << int(R::None) << false << QByteArray();
    QTest::newRow("ordersx") << int(M::Get) << "/api/ordersx" << int(R::None) << false << QByteArray();
}

void TestServerUnits::routes()
{
    QFETCH(int, method);
    QFETCH(QString, path);
    QFETCH(int, route);
    QFETCH(bool, allowed);
    QFETCH(QByteArray, allow);
    const auto m = RouteMatcher::match(RouteMatcher::Method(method), path);
    QCOMPARE(int(m.route), route);
    QCOMPARE(m.methodAllowed, allowed);
    QCOMPARE(m.allow, allow);
}

void TestServerUnits::sseFraming()
{
    QCOMPARE(SseEncoder::event("7", "STEP_STARTED", "{\"a\":1}"),
             QByteArray("id: 7\nevent: STEP_STARTED\ndata: {\"a\":1}\n\n"));
    QCOMPARE(SseEncoder::event("1", "x", "line1\nline2\r"), QByteArray("id: 1\nevent: x\ndata: line1\ndata: line2\n\n"));
    QCOMPARE(SseEncoder::event({}, "x", "d"), QByteArray("event: x\ndata: d\n\n"));
    // An id or type from a stored row with a line break in it stays one field.
    QCOMPARE(SseEncoder::event("4\n2", "NEW\r\ndata: forged", "d"),
             QByteArray("id: 42\nevent: NEWdata: forged\ndata: d\n\n"));
    QCOMPARE(SseEncoder::retry(3000), QByteArray("retry: 3000\n\n"));
    QCOMPARE(SseEncoder::heartbeat(), QByteArray(":\n\n"));
    QCOMPARE(SseEncoder::comment("a\nb"), QByteArray(": a b\n\n"));
    QCOMPARE(RouteMatcher::parseUuid(u"550e8400-e29b-41d4-a716-446655440000"), kCustomer);
    QVERIFY(RouteMatcher::parseUuid(u"550e8400e29b41d4a716446655440000").isNull());
    QVERIFY(RouteMatcher::parseUuid(u"550e8400-e29b-41d4-a716-44665544000g").isNull());
}

void TestServerUnits::sequencerOrdersPositions()
{
    auto positions = [](const QVector<GlobalSequencer::Item> &items) {
        QList<qint64> out;
        for (const GlobalSequencer::Item &item : items)
            out.append(item.position);
        return out;
    };
    GlobalSequencer seq;
    QVERIFY(!seq.isAnchored());
    seq.anchor(10);
    QCOMPARE(seq.last(), 10);
    QVector<GlobalSequencer::Item> out;
    seq.push(9, "old", out); // at or below the anchor: never passed on
    seq.push(11, "a", out);
    QCOMPARE(positions(out), (QList<qint64>{11}));
    QCOMPARE(out.front().frame, QByteArray("a"));
    out.clear();
    // 13 and 14 (ours) arrive before 12 (another process's, via the feed): held.
    seq.push(13, "c", out);
    seq.push(14, "d", out);
    QVERIFY(out.isEmpty());
    QCOMPARE(seq.pending(), 2);
    QVERIFY(!seq.wants(13));
    QVERIFY(seq.wants(12));
    seq.push(12, "b", out);
    QCOMPARE(positions(out), (QList<qint64>{12, 13, 14}));
    QCOMPARE(seq.last(), 14);
    out.clear();
    // The feed brings our own events again: duplicates.
    seq.push(13, "c", out);
    seq.push(14, "d", out);
    QVERIFY(out.isEmpty());
    QVERIFY(!seq.wants(14));
    QVERIFY(seq.wants(15));

    // Not anchored: the first frame anchors.
    GlobalSequencer fresh;
    fresh.push(100, "x", out);
    QCOMPARE(positions(out), (QList<qint64>{100}));
    QCOMPARE(fresh.last(), 100);
    out.clear();

    // A gap that never fills does not hold memory without bound.
    GlobalSequencer bounded(3);
    bounded.anchor(0);
    for (qint64 p = 2; p <= 5; ++p)
        bounded.push(p, "y", out);
    QCOMPARE(positions(out), (QList<qint64>{2, 3, 4, 5}));
    QCOMPARE(bounded.skippedGaps(), quint64(1));
}

void TestServerUnits::errorShape()
{
    const QJsonObject json = QJsonDocument::fromJson(ApiError::badField("items[0].quantity", "must be 1..1000").toBody()).object();
    QCOMPARE(json.value("error").toString(), QStringLiteral("INVALID_FIELD"));
    QVERIFY(json.value("message").toString().contains(QStringLiteral("items[0].quantity")));
    QCOMPARE(json.value("details").toObject().value("field").toString(), QStringLiteral("items[0].quantity"));
    QCOMPARE(ApiError::orderNotFound().status(), 404);
    QCOMPARE(ApiError::unavailable().status(), 503);
    const QJsonObject plain = ApiError::unauthorized("x").toJson();
    QVERIFY(!plain.contains("details"));
    QCOMPARE(plain.keys(), (QStringList{"error", "message"}));
}

void TestServerUnits::commandLine()
{
    const QString secret = TestServices::tempDir() + QStringLiteral("/cli-secret");
    QFile file(secret);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("k\n");
    file.close();

    auto serve = ServerCommandLine::parse({"saga-server", "--listen", "127.0.0.1:0", "--database", "sqlite:/tmp/x.db",
                                           "--step-delay", "5", "--retry-cooldown", "0", "--auth-secret-file", secret});
    QCOMPARE(int(serve.mode), int(ServerCommandLine::Mode::Serve));
    QCOMPARE(serve.config.listenPort, quint16(0));
    QCOMPARE(serve.config.engine.stepDelayMs, 5);
    QCOMPARE(serve.config.engine.retryCooldownSeconds, 0);
    QCOMPARE(serve.config.authKey, QByteArray("k"));
    QVERIFY(serve.config.engine.stepsBaseUrl.isEmpty());
    // A key under 256 bits serves (a demo's secret), with a warning naming the file and the fix.
    QCOMPARE(serve.warnings.size(), 1);
    QVERIFY2(serve.warnings.first().contains(secret) && serve.warnings.first().contains("1 bytes")
                 && serve.warnings.first().contains("/dev/urandom"),
             qPrintable(serve.warnings.first()));
    const QString longSecret = TestServices::tempDir() + QStringLiteral("/cli-secret-long");
    QFile longFile(longSecret);
    QVERIFY(longFile.open(QIODevice::WriteOnly));
    longFile.write(QByteArray(32, 'k') + "\n");
    longFile.close();
    QVERIFY(ServerCommandLine::parse({"saga-server", "--auth-secret-file", longSecret}).warnings.isEmpty());

    auto defaults = ServerCommandLine::parse({"saga-server", "--auth-secret-file", secret});
    QCOMPARE(int(defaults.mode), int(ServerCommandLine::Mode::Serve));
    QCOMPARE(defaults.config.listenPort, quint16(8080));
    QCOMPARE(defaults.config.listenHost, QStringLiteral("127.0.0.1"));

    QCOMPARE(int(ServerCommandLine::parse({"saga-server", "--help"}).mode), int(ServerCommandLine::Mode::Help));
    QVERIFY(ServerCommandLine::parse({"saga-server", "--help"}).text.contains("--retry-cooldown"));
    QCOMPARE(int(ServerCommandLine::parse({"saga-server"}).mode), int(ServerCommandLine::Mode::Error)); // no secret
    QCOMPARE(int(ServerCommandLine::parse({"saga-server", "--listen", "nohost", "--auth-secret-file", secret}).mode),
             int(ServerCommandLine::Mode::Error));
    for (const char *lenient : {"127.0.0.1: 8080", "127.0.0.1:+8080", "127.0.0.1:8080 ", "127.0.0.1:0x50", "127.0.0.1:"})
        QVERIFY2(ServerCommandLine::parse({"saga-server", "--listen", lenient, "--auth-secret-file", secret}).mode
                     == ServerCommandLine::Mode::Error,
                 lenient);
    QCOMPARE(int(ServerCommandLine::parse({"saga-server", "--steps", "ftp://x", "--auth-secret-file", secret}).mode),
             int(ServerCommandLine::Mode::Error));
    QCOMPARE(int(ServerCommandLine::parse({"saga-server", "--bogus"}).mode), int(ServerCommandLine::Mode::Error));
    // A refused --step-delay or --retry-cooldown is told the range taken; "must be a number >= 0"
    // was the answer to 1.5 and to 99999999999 as well, which are both numbers >= 0.
    for (const char *option : {"--step-delay", "--retry-cooldown"}) {
        for (const char *value : {"1.5", "99999999999", "-1", "soon"}) {
            const auto refused = ServerCommandLine::parse({"saga-server", option, value, "--auth-secret-file", secret});
            QCOMPARE(int(refused.mode), int(ServerCommandLine::Mode::Error));
            QVERIFY2(refused.text.contains(QLatin1String(option)) && refused.text.contains("whole number")
                         && refused.text.contains("from 0 to 2147483647") && refused.text.contains(value),
                     qPrintable(refused.text));
        }
        QCOMPARE(int(ServerCommandLine::parse({"saga-server", option, "2147483647", "--auth-secret-file", secret}).mode),
                 int(ServerCommandLine::Mode::Serve));
    }

    auto token = ServerCommandLine::parse({"saga-server", "token", "--subject", kCustomer.toString(QUuid::WithoutBraces),
                                           "--role", "SUPPORT", "--ttl", "60", "--auth-secret-file", secret});
    QCOMPARE(int(token.mode), int(ServerCommandLine::Mode::Token));
    QCOMPARE(token.token.subject, kCustomer);
    QCOMPARE(token.token.roles, QStringList{"SUPPORT"});
    QCOMPARE(token.token.ttlSeconds, 60);
    QCOMPARE(int(ServerCommandLine::parse({"saga-server", "token", "--subject", "x", "--auth-secret-file", secret}).mode),
             int(ServerCommandLine::Mode::Error));
    // A lifetime whose expiry would overflow is refused (it minted an expired token).
    const QString subject = kCustomer.toString(QUuid::WithoutBraces);
    auto huge = ServerCommandLine::parse({"saga-server", "token", "--subject", subject, "--ttl", "9223372036854775807",
                                          "--auth-secret-file", secret});
    QCOMPARE(int(huge.mode), int(ServerCommandLine::Mode::Error));
    QVERIFY2(huge.text.contains("ten years"), qPrintable(huge.text));
    QCOMPARE(int(ServerCommandLine::parse({"saga-server", "token", "--subject", subject, "--ttl", "316224000",
                                           "--auth-secret-file", secret})
                     .mode),
             int(ServerCommandLine::Mode::Token));
    // "listening on" prints a URL, IPv6 hosts in brackets.
    QCOMPARE(ServerCommandLine::listenUrl("127.0.0.1", 8080), QStringLiteral("http://127.0.0.1:8080"));
    QCOMPARE(ServerCommandLine::listenUrl("::1", 39615), QStringLiteral("http://[::1]:39615"));
}

// --rate-limit PER_S[:BURST] | off and --max-streams N | off; without them the
// defaults (50:200, 64), and the flags that were there before mean the same.
void TestServerUnits::rateLimitFlags()
{
    const QString secret = TestServices::tempDir() + QStringLiteral("/cli-rate-secret");
    QFile file(secret);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("k\n");
    file.close();
    auto parse = [&secret](QStringList args) {
        args.prepend(QStringLiteral("saga-server"));
        args << QStringLiteral("--auth-secret-file") << secret;
        return ServerCommandLine::parse(args);
    };

    const ServerCommandLine defaults = parse({"--listen", "127.0.0.1:0", "--step-delay", "5"});
    QCOMPARE(int(defaults.mode), int(ServerCommandLine::Mode::Serve));
    QCOMPARE(defaults.config.rateLimitPerSecond, 50.0);
    QCOMPARE(defaults.config.rateLimitBurst, 200.0);
    QCOMPARE(defaults.config.maxStreamsPerClient, 64);
    QCOMPARE(defaults.config.engine.stepDelayMs, 5);

    const ServerCommandLine both = parse({"--rate-limit", "2.5:7", "--max-streams", "3"});
    QCOMPARE(int(both.mode), int(ServerCommandLine::Mode::Serve));
    QCOMPARE(both.config.rateLimitPerSecond, 2.5);
    QCOMPARE(both.config.rateLimitBurst, 7.0);
    QCOMPARE(both.config.maxStreamsPerClient, 3);
    const ServerCommandLine rateOnly = parse({"--rate-limit", "10"});
    QCOMPARE(rateOnly.config.rateLimitPerSecond, 10.0);
    QCOMPARE(rateOnly.config.rateLimitBurst, 40.0); // 4 x the rate
    for (const char *off : {"off", "0", "OFF"}) {
        const ServerCommandLine disabled = parse({"--rate-limit", off, "--max-streams", off});
        QVERIFY2(disabled.mode == ServerCommandLine::Mode::Serve, qPrintable(disabled.text));
        QCOMPARE(disabled.config.rateLimitPerSecond, 0.0);
        QCOMPARE(disabled.config.maxStreamsPerClient, 0);
    }
    for (const char *bad : {"-1", "fast", "5:0", "5:x", "5:2:1", "0:10", "nan", "inf", "1e9", "", "1e-12", "0.0009"}) {
        const ServerCommandLine refused = parse({"--rate-limit", bad});
        QVERIFY2(refused.mode == ServerCommandLine::Mode::Error, bad);
        QVERIFY2(refused.text.contains(QLatin1String("--rate-limit")), qPrintable(refused.text));
    }
    for (const char *bad : {"-1", "many", "1.5", ""}) {
        const ServerCommandLine refused = parse({"--max-streams", bad});
        QVERIFY2(refused.mode == ServerCommandLine::Mode::Error, bad);
        QVERIFY2(refused.text.contains(QLatin1String("--max-streams")), qPrintable(refused.text));
    }
    const QString help = ServerCommandLine::parse({"saga-server", "--help"}).text;
    QVERIFY2(help.contains(QLatin1String("--rate-limit PER_S[:BURST]")), qPrintable(help));
    QVERIFY2(help.contains(QLatin1String("--max-streams N")), qPrintable(help));
}

QTEST_GUILESS_MAIN(TestServerUnits)
// The server's read connections come after the engine has made the SQLite file.
// One missing then was deleted under the server: the read answers "unavailable"
// (503) instead of making a new empty database there and listing no orders.
void TestServerUnits::readPoolDoesNotRecreateADeletedDatabase()
{
    DatabaseUrl url;
    url.kind = DatabaseUrl::Kind::Sqlite;
    url.path = TestServices::tempDir() + QStringLiteral("/read-pool.sqlite");
    auto readsOpen = [&url] {
        StorePool pool(url, 1);
        QObject context;
        std::optional<bool> opened;
        pool.run<bool>(
            &context, [](SagaStore *store) { return store != nullptr; }, [&opened](bool ok) { opened = ok; });
        if (!QTest::qWaitFor([&opened] { return opened.has_value(); }, 30000))
            return false;
        return *opened;
    };
    QVERIFY(!readsOpen());
    QVERIFY(!QFile::exists(url.path));
    {
        SagaStore engine(url, QStringLiteral("engine-makes-it"));
        QVERIFY(engine.open().ok());
    }
    QVERIFY(readsOpen());
}

// saga_step_duration_seconds: a step taken over after an interruption (its
// STEP_COMPLETED has details.resumedAt) counts from the resumed attempt's start,
// not its STEP_STARTED 31 s before (the wait for the crashed engine's lease). A
// server that did not see the step start (it started later) still counts it.
void TestServerUnits::stepDurationOfATakenOverStep()
{
    const QUuid order = QUuid::createUuid();
    const QDateTime t0(QDate(2024, 1, 10), QTime(14, 30), Qt::UTC);
    qint64 seq = 0;
    auto event = [&](EventType type, std::optional<SagaStep> step, qint64 atMs, QJsonObject details = {}) {
        OrderEvent e;
        e.orderId = order;
        e.seq = ++seq;
        e.type = type;
        e.step = step;
        e.timestamp = t0.addMSecs(atMs);
        e.details = std::move(details);
        return e;
    };
    const QJsonObject resumed{{QStringLiteral("reservationId"), QStringLiteral("RES-1")},
                              {QStringLiteral("resumed"), true},
                              {QStringLiteral("resumedAt"), SagaJson::formatTimestamp(t0.addMSecs(30750))}};
    const QVector<OrderEvent> events{
        event(EventType::SagaStarted, std::nullopt, 0),
        event(EventType::StepStarted, SagaStep::Inventory, 0),
        event(EventType::StepCompleted, SagaStep::Inventory, 31000, resumed),
        event(EventType::StepStarted, SagaStep::Payment, 31000),
        event(EventType::StepCompleted, SagaStep::Payment, 31500),
    };
    auto lines = [](const ServerMetrics &m) {
        return QString::fromUtf8(m.render(0, 0, true)).split(QLatin1Char('\n'));
    };
    ServerMetrics all;
    for (const OrderEvent &e : events)
        all.observe(e, nullptr);
    QStringList out = lines(all);
    QVERIFY(out.contains(QStringLiteral("saga_step_duration_seconds_sum{step=\"Inventory Reservation\"} 0.25")));
    QVERIFY(out.contains(QStringLiteral("saga_step_duration_seconds_bucket{step=\"Inventory Reservation\",le=\"0.25\"} 1")));
    QVERIFY(out.contains(QStringLiteral("saga_step_duration_seconds_sum{step=\"Payment Processing\"} 0.5")));

    ServerMetrics later; // saw only the end
    later.observe(events[2], nullptr);
    out = lines(later);
    QVERIFY(out.contains(QStringLiteral("saga_step_duration_seconds_count{step=\"Inventory Reservation\"} 1")));
    QVERIFY(out.contains(QStringLiteral("saga_step_duration_seconds_sum{step=\"Inventory Reservation\"} 0.25")));

    // An older engine's record (no resumedAt): from STEP_STARTED, as before.
    ServerMetrics old;
    for (OrderEvent e : events) {
        e.details.remove(QStringLiteral("resumedAt"));
        old.observe(e, nullptr);
    }
    QVERIFY(lines(old).contains(QStringLiteral("saga_step_duration_seconds_sum{step=\"Inventory Reservation\"} 31")));
}

// A connection saga-server accepts has TCP keepalives and a 60 s TCP_USER_TIMEOUT,
// so a client whose host or network vanished (no FIN) is dropped within about a
// minute instead of the kernel's ~15 minutes of retransmissions, freeing its event
// stream slot. (Read back from the accepted socket: staging a vanished peer would
// mean changing the machine's firewall rules from a test.)
void TestServerUnits::acceptedConnectionsDetectAVanishedPeer()
{
    GuardedTcpServer server(ConnectionGuard::Limits{});
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    QTcpSocket client;
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(server.waitForNewConnection(10000));
    QTcpSocket *accepted = server.nextPendingConnection();
    QVERIFY(accepted);
    const int fd = int(accepted->socketDescriptor());
    const auto option = [fd](int level, int name) {
        int value = -1;
        socklen_t length = sizeof value;
        return ::getsockopt(fd, level, name, &value, &length) == 0 ? value : -2;
    };
    QCOMPARE(option(SOL_SOCKET, SO_KEEPALIVE), 1);
    QCOMPARE(option(IPPROTO_TCP, TCP_KEEPIDLE), 30);
    QCOMPARE(option(IPPROTO_TCP, TCP_KEEPINTVL), 10);
    QCOMPARE(option(IPPROTO_TCP, TCP_KEEPCNT), 3);
    QCOMPARE(option(IPPROTO_TCP, TCP_USER_TIMEOUT), 60000);
}

// A runtime on 127.0.0.1:`port` with a SQLite file `file` in the test's temp dir.
static ServerConfig sqliteRuntimeConfig(const QString &file, quint16 port)
{
    ServerConfig config;
    config.listenPort = port;
    config.authKey = kKey;
    config.engine.database.kind = DatabaseUrl::Kind::Sqlite;
    config.engine.database.path = TestServices::tempDir() + QLatin1Char('/') + file;
    return config;
}

// SIGTERM (ServerRuntime::shutdown) before the engine has started: the server
// stops without ever listening. It used to open its port once the engine had
// started anyway and print "listening on http://..." (ready) on its way out, so
// a supervisor that stopped it during its start saw it come up.
void TestServerUnits::shutdownWhileTheEngineStartsNeverListens()
{
    const ServerConfig config = sqliteRuntimeConfig(QStringLiteral("stopped-while-starting.sqlite"), 0);
    ServerRuntime runtime(config);
    QSignalSpy ready(&runtime, &ServerRuntime::ready);
    QSignalSpy failed(&runtime, &ServerRuntime::failed);
    QSignalSpy stopped(&runtime, &ServerRuntime::stopped);
    QVERIFY(ready.isValid() && failed.isValid() && stopped.isValid());
    runtime.start(); // the engine starts on its own thread; it has not answered yet
    runtime.shutdown();
    QVERIFY(stopped.wait(30000) || !stopped.isEmpty());
    QTest::qWait(0); // anything posted before "stopped" has been delivered
    QCOMPARE(ready.size(), 0);
    QCOMPARE(failed.size(), 0);
    QCOMPARE(runtime.port(), quint16(0));
}

// A port another program holds is found before the engine starts: saga-server
// fails with "cannot listen on" and the database is not touched. The engine used
// to start first (a new SQLite file made and migrated, or a shared database's
// schema upgraded under the server still running on that port, expired leases
// taken over), and only then did the listener find the port taken.
void TestServerUnits::portInUseIsFoundBeforeTheEngineStarts()
{
    QTcpServer holder;
    QVERIFY(holder.listen(QHostAddress::LocalHost, 0));
    const ServerConfig config = sqliteRuntimeConfig(QStringLiteral("port-in-use.sqlite"), holder.serverPort());
    ServerRuntime runtime(config);
    QSignalSpy ready(&runtime, &ServerRuntime::ready);
    QSignalSpy failed(&runtime, &ServerRuntime::failed);
    QVERIFY(ready.isValid() && failed.isValid());
    runtime.start();
    QVERIFY(failed.wait(30000) || !failed.isEmpty());
    const QString reason = failed.first().first().toString();
    QVERIFY2(reason.contains(QStringLiteral("cannot listen on 127.0.0.1:%1").arg(holder.serverPort())), qPrintable(reason));
    QCOMPARE(ready.size(), 0);
    QVERIFY2(!QFile::exists(config.engine.database.path), "the engine made the database before the port was checked");
    QVERIFY(!runtime.engine()->isRunning());
}

#include "tst_serverunits.moc"
