// The remote console behind a connection that damages what saga-server answers.
//
// A TCP proxy on 127.0.0.1 sits between a RemoteSource and a real saga-server.
// While it is "mutating" it changes bytes of the JSON it passes back (order lists,
// event streams, an order's events), from a seeded random generator, and drops
// every connection now and then so that the console loads and resumes through
// the damage too. The console must take whatever comes: no crash, a model that
// stays consistent (QAbstractItemModelTester), and once the answers are whole
// again it follows the server live, showing how the new orders end.

#include "orderpresets.h"
#include "ordertreemodel.h"
#include "remotesource.h"
#include "sagaserverprocess.h"
#include "sourcetesthelpers.h"
#include "testservices.h"

#include <QPointer>
#include <QRandomGenerator>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QUrl>

namespace {
constexpr int kTimeout = 30000;

// Passes bytes both ways between clients and `upstream`. While mutating, a byte
// of what comes back is changed with probability 1/`oneIn` when it is inside a
// line that holds a '{' (a JSON body, an SSE data line), after that brace: never
// a status line, a header or a chunk size, and never the length of anything, so
// the HTTP framing stays whole and the damage reaches the console's own parsing.
// Digits become other digits (seqs, positions, times, amounts), letters other
// letters (keys, statuses, ids), and now and then a quote, colon, comma or
// bracket becomes something else.
class MutatingProxy : public QObject
{
public:
    MutatingProxy(const QUrl &upstream, quint32 seed)
        : m_upstream(upstream)
        , m_random(seed)
    {
        QObject::connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *client = m_server.nextPendingConnection())
                accept(client);
        });
    }

    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    QUrl url() const { return QUrl(QStringLiteral("http://127.0.0.1:%1").arg(m_server.serverPort())); }
    void setMutating(bool on) { m_mutating = on; }
    qint64 mutatedBytes() const { return m_mutated; }

    // Ends every connection (the client sees the server go away mid-stream).
    void dropConnections()
    {
        for (const Link &link : std::as_const(m_links)) {
            if (link.client)
                link.client->abort();
            if (link.upstream)
                link.upstream->abort();
        }
        m_links.clear();
    }

private:
    struct Link {
        QPointer<QTcpSocket> client;
        QPointer<QTcpSocket> upstream;
        bool inJson = false; // the current line has had a '{'
    };

    void accept(QTcpSocket *client)
    {
        client->setParent(this);
        auto *upstream = new QTcpSocket(this);
        const int index = int(m_links.size());
        m_links.append(Link{client, upstream, false});
        upstream->connectToHost(QHostAddress::LocalHost, quint16(m_upstream.port()));
        // (Written while connecting: QAbstractSocket sends it once connected.)
        QObject::connect(client, &QTcpSocket::readyRead, upstream, [client, upstream] {
            upstream->write(client->readAll());
        });
        QObject::connect(upstream, &QTcpSocket::readyRead, client, [this, index, client, upstream] {
            QByteArray data = upstream->readAll();
            if (index < m_links.size() && m_links[index].upstream == upstream)
                mutate(m_links[index], data);
            client->write(data);
        });
        auto close = [client, upstream] {
            if (client)
                client->disconnectFromHost();
            if (upstream)
                upstream->disconnectFromHost();
        };
        QObject::connect(client, &QTcpSocket::disconnected, this, close);
        QObject::connect(upstream, &QTcpSocket::disconnected, this, close);
        QObject::connect(client, &QTcpSocket::disconnected, client, &QObject::deleteLater);
        QObject::connect(upstream, &QTcpSocket::disconnected, upstream, &QObject::deleteLater);
    }

    void mutate(Link &link, QByteArray &data)
    {
        for (char &c : data) {
            if (c == '\n') {
                link.inJson = false;
                continue;
            }
            if (c == '{' && !link.inJson) {
                link.inJson = true;
                continue;
            }
            if (!m_mutating || !link.inJson || m_random.bounded(kOneIn) != 0)
                continue;
            const char before = c;
            if (c >= '0' && c <= '9')
                c = char('0' + (c - '0' + 1 + int(m_random.bounded(9))) % 10);
            else if (c >= 'a' && c <= 'z')
                c = char('a' + (c - 'a' + 1 + int(m_random.bounded(25))) % 26);
            else if (c >= 'A' && c <= 'Z')
                c = char('A' + (c - 'A' + 1 + int(m_random.bounded(25))) % 26);
            else if (c == '"' || c == ':' || c == ',' || c == '[' || c == ']' || c == '}')
                c = "x0-]{\" "[m_random.bounded(7)];
            if (c != before)
                ++m_mutated;
        }
    }

    static constexpr int kOneIn = 400;
    QTcpServer m_server;
    QUrl m_upstream;
    QRandomGenerator m_random;
    QVector<Link> m_links;
    bool m_mutating = false;
    qint64 m_mutated = 0;
};

using GuiTest::place;
using GuiTest::statusName;

// How an order of each preset ends with the simulated steps.
QString expectedEnd(OrderPreset preset)
{
    switch (preset) {
    case OrderPreset::HappyPath: return QStringLiteral("COMPLETED");
    case OrderPreset::OutOfStock: return QStringLiteral("FAILED"); // nothing done, nothing to undo
    default: return QStringLiteral("ROLLED_BACK");
    }
}
} // namespace

class tst_RemoteChaos : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void damagedAnswersDoNotBreakTheConsole_data();
    void damagedAnswersDoNotBreakTheConsole();
};

void tst_RemoteChaos::damagedAnswersDoNotBreakTheConsole_data()
{
    TestServices::addSeedRows(1, 3);
}

void tst_RemoteChaos::damagedAnswersDoNotBreakTheConsole()
{
    QFETCH(quint32, seed);
    SagaServerProcess server;
    QString token;
    QString error = server.startWithSupportToken(&token);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    MutatingProxy proxy(server.url(), seed);
    QVERIFY(proxy.listen());

    GuiTest::ShownOrders shown;
    const OrderTreeModel &model = shown.model;
    RemoteSource source(proxy.url(), token);
    source.setMaxBackoff(300);
    shown.follow(&source);
    int notLive = 0;
    QObject::connect(&source, &ProgressSource::connectionStateChanged, &model,
                     [&](ProgressSource::State state, const QString &) {
                         notLive += state != ProgressSource::State::Live ? 1 : 0;
                     });
    RemoteSource placer(server.url(), token); // straight to the server: orders are placed whole
    QRandomGenerator random(seed);
    auto someOrder = [&random]() {
        return OrderPreset(random.bounded(kOrderPresetCount));
    };
    for (int i = 0; i < 5; ++i) {
        place(&placer, OrderPresets::make(someOrder(), &random), &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }
    source.start();
    QTRY_VERIFY_WITH_TIMEOUT(source.state() == ProgressSource::State::Live, kTimeout);

    // Damage: orders keep coming while the answers are damaged and the connections
    // dropped now and then (loads and resumed streams through the damage too).
    proxy.setMutating(true);
    for (int round = 0; round < 40; ++round) {
        place(&placer, OrderPresets::make(someOrder(), &random), &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QTest::qWait(100);
        if (round % 8 == 7)
            proxy.dropConnections();
    }
    QTest::qWait(1000);
    proxy.setMutating(false);
    QVERIFY2(proxy.mutatedBytes() > 0, "nothing was damaged");
    const int notLiveDuringDamage = notLive;
    proxy.dropConnections();

    // Whole answers again: live within the backoff, and following the server.
    QTRY_VERIFY_WITH_TIMEOUT(source.state() == ProgressSource::State::Live, kTimeout);
    QVector<QPair<QUuid, OrderPreset>> after;
    for (int i = 0; i < 6; ++i) {
        const OrderPreset preset = OrderPreset(i % kOrderPresetCount);
        after.append({place(&placer, OrderPresets::make(preset, &random), &error), preset});
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }
    for (const auto &[id, preset] : std::as_const(after))
        QTRY_COMPARE_WITH_TIMEOUT(statusName(model, id), expectedEnd(preset), kTimeout);
    qInfo("seed %u: %lld bytes damaged, %d times not live during the damage, %d orders shown", seed,
          qlonglong(proxy.mutatedBytes()), notLiveDuringDamage, model.orderCount());
}

QTEST_MAIN(tst_RemoteChaos)
#include "tst_remotechaos.moc"
