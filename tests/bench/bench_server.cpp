// SSE fan-out benchmark client for saga-server (scripts/bench-server.sh runs it).
//
//   bench_server --port P --token SUPPORT_TOKEN --customer-token T --customer UUID
//                [--subscribers 1000] [--orders 40] [--rate 4] [--server-pid PID]
//
// Opens N subscribers on GET /api/orders/stream, waits until all are connected,
// measures the server's RSS growth (memory per subscriber), then places orders
// at a fixed rate and records, for every event on every subscriber, the time
// from the event's commit timestamp (data.timestamp) to its arrival. Prints
// p50/p95/p99/max and delivery counts. One thread, event-driven.

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpSocket>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <vector>

namespace {

qint64 rssKiB(qint64 pid)
{
    QFile file(QStringLiteral("/proc/%1/status").arg(pid));
    if (!file.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> lines = file.readAll().split('\n');
    for (const QByteArray &line : lines) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}

struct Subscriber {
    QTcpSocket socket;
    QByteArray buffer;
    bool headerDone = false;
    bool connected = false;
    qint64 events = 0;
};

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addHelpOption();
    const QCommandLineOption portOpt("port", "server port", "P");
    const QCommandLineOption tokenOpt("token", "SUPPORT token", "T");
    const QCommandLineOption customerTokenOpt("customer-token", "customer token", "T");
    const QCommandLineOption customerOpt("customer", "customer UUID", "UUID");
    const QCommandLineOption subscribersOpt("subscribers", "subscribers", "N", "1000");
    const QCommandLineOption ordersOpt("orders", "orders to place", "N", "40");
    const QCommandLineOption rateOpt("rate", "orders per second", "N", "4");
    const QCommandLineOption pidOpt("server-pid", "server pid (for RSS)", "PID", "0");
    parser.addOptions({portOpt, tokenOpt, customerTokenOpt, customerOpt, subscribersOpt, ordersOpt, rateOpt, pidOpt});
    parser.process(app);

    const quint16 port = quint16(parser.value(portOpt).toUInt());
    const QByteArray token = parser.value(tokenOpt).toLatin1();
    const QByteArray customerToken = parser.value(customerTokenOpt).toLatin1();
    const QString customer = parser.value(customerOpt);
    const int subscriberCount = parser.value(subscribersOpt).toInt();
    const int orderCount = parser.value(ordersOpt).toInt();
    const int rate = qMax(1, parser.value(rateOpt).toInt());
    const qint64 serverPid = parser.value(pidOpt).toLongLong();

    const qint64 rssBefore = serverPid > 0 ? rssKiB(serverPid) : -1;
    std::vector<std::unique_ptr<Subscriber>> subscribers;
    std::vector<qint64> latencies;
    latencies.reserve(size_t(subscriberCount) * size_t(orderCount) * 8);
    int connectedCount = 0;
    qint64 malformed = 0;

    const QByteArray request = "GET /api/orders/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token
                               + "\r\nAccept: text/event-stream\r\n\r\n";
    for (int i = 0; i < subscriberCount; ++i) {
        auto s = std::make_unique<Subscriber>();
        Subscriber *raw = s.get();
        QObject::connect(&raw->socket, &QTcpSocket::connected, [raw, &request] { raw->socket.write(request); });
        QObject::connect(&raw->socket, &QTcpSocket::readyRead, [raw, &latencies, &connectedCount, &malformed] {
            raw->buffer += raw->socket.readAll();
            if (!raw->headerDone) {
                const qsizetype end = raw->buffer.indexOf("\r\n\r\n");
                if (end < 0)
                    return;
                raw->headerDone = true;
                raw->buffer.remove(0, end + 4);
            }
            const qint64 now = QDateTime::currentMSecsSinceEpoch();
            for (;;) {
                const qsizetype end = raw->buffer.indexOf("\n\n");
                if (end < 0)
                    break;
                const QByteArray block = raw->buffer.left(end);
                raw->buffer.remove(0, end + 2);
                if (block.startsWith(": connected") && !raw->connected) {
                    raw->connected = true;
                    ++connectedCount;
                    continue;
                }
                const qsizetype at = block.indexOf("\"timestamp\":\"");
                if (at < 0)
                    continue;
                // "YYYY-MM-DDTHH:MM:SS.mmmZ": only the time of day matters (same day, same clock).
                const char *t = block.constData() + at + 13;
                if (block.size() < at + 13 + 24 || t[10] != 'T' || t[23] != 'Z') {
                    ++malformed;
                    continue;
                }
                auto num = [t](int pos, int len) {
                    int v = 0;
                    for (int k = 0; k < len; ++k)
                        v = v * 10 + (t[pos + k] - '0');
                    return v;
                };
                const qint64 dayMs = ((qint64(num(11, 2)) * 60 + num(14, 2)) * 60 + num(17, 2)) * 1000 + num(20, 3);
                const qint64 nowDayMs = now % 86400000;
                qint64 latency = nowDayMs - dayMs;
                if (latency < -43200000)
                    latency += 86400000; // midnight passed in between
                latencies.push_back(latency);
                ++raw->events;
            }
        });
        raw->socket.connectToHost(QStringLiteral("127.0.0.1"), port);
        subscribers.push_back(std::move(s));
    }

    QElapsedTimer timer;
    timer.start();
    while (connectedCount < subscriberCount && timer.elapsed() < 60000)
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
    // Let the server settle, then measure its memory with every subscriber connected.
    QElapsedTimer settle;
    settle.start();
    while (settle.elapsed() < 1000)
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
    const qint64 rssAfter = serverPid > 0 ? rssKiB(serverPid) : -1;

    // Place orders at the given rate on short-lived connections.
    const QByteArray body = QJsonDocument(QJsonObject{
        {"customerId", customer},
        {"items", QJsonArray{QJsonObject{{"productId", "widget-1"}, {"productName", "Widget"}, {"quantity", 1}, {"unitPriceInCents", 500}}}},
        {"paymentMethodId", "good-card"},
        {"shippingAddress", QJsonObject{{"street", "1 Main St"}, {"city", "Springfield"}, {"state", "IL"}, {"postalCode", "62701"}, {"country", "US"}}}})
                                .toJson(QJsonDocument::Compact);
    const QByteArray post = "POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer "
                            + customerToken + "\r\nContent-Type: application/json\r\nContent-Length: "
                            + QByteArray::number(body.size()) + "\r\n\r\n" + body;
    std::vector<std::unique_ptr<QTcpSocket>> posts;
    int placed = 0;
    QTimer pacer;
    QObject::connect(&pacer, &QTimer::timeout, [&] {
        if (placed >= orderCount) {
            pacer.stop();
            return;
        }
        auto socket = std::make_unique<QTcpSocket>();
        QTcpSocket *raw = socket.get();
        QObject::connect(raw, &QTcpSocket::connected, [raw, &post] { raw->write(post); });
        QObject::connect(raw, &QTcpSocket::readyRead, [raw] { raw->readAll(); });
        raw->connectToHost(QStringLiteral("127.0.0.1"), port);
        posts.push_back(std::move(socket));
        ++placed;
    });
    pacer.start(1000 / rate);
    const qint64 expected = qint64(subscriberCount) * orderCount * 8;
    timer.restart();
    while (timer.elapsed() < 120000 && (placed < orderCount || qint64(latencies.size()) < expected))
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);

    std::sort(latencies.begin(), latencies.end());
    auto pct = [&latencies](double p) -> qint64 {
        if (latencies.empty())
            return -1;
        return latencies[std::min(latencies.size() - 1, size_t(p * double(latencies.size())))];
    };
    int stillConnected = 0;
    for (const auto &s : subscribers)
        stillConnected += s->socket.state() == QAbstractSocket::ConnectedState ? 1 : 0;
    std::printf("subscribers_connected %d of %d (still connected at end: %d)\n", connectedCount, subscriberCount, stillConnected);
    std::printf("orders_placed %d\n", placed);
    std::printf("events_delivered %lld of %lld expected (malformed %lld)\n", qint64(latencies.size()), expected, malformed);
    std::printf("latency_ms p50 %lld p95 %lld p99 %lld max %lld\n", pct(0.50), pct(0.95), pct(0.99),
                latencies.empty() ? -1LL : latencies.back());
    if (rssBefore > 0 && rssAfter > 0) {
        std::printf("server_rss_kib before %lld with_subscribers %lld per_subscriber_bytes %lld\n", rssBefore, rssAfter,
                    (rssAfter - rssBefore) * 1024 / qMax(1, connectedCount));
    }
    return latencies.empty() ? 1 : 0;
}
