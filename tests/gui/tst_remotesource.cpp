// The remote source against a real saga-server: list + all-orders stream, live
// updates, a wrong token, an unreachable server, and a dropped stream (server
// killed and restarted) that resumes with Last-Event-ID without applying any
// event twice.

#include "demotraffic.h"
#include "detailpanel.h"
#include "eventbatcher.h"
#include "guitesthelpers.h"
#include "mainwindow.h"
#include "neworderdialog.h"
#include "orderpresets.h"
#include "retrydialog.h"
#include "sagajson.h"
#include "ordertreemodel.h"
#include "remotesource.h"
#include "sagaserverprocess.h"
#include "sourcetesthelpers.h"
#include "sourcespec.h"
#include "ssestreamparser.h"
#include "wiremockadmin.h"

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QElapsedTimer>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStatusBar>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

namespace {
constexpr int kTimeout = 30000;

// What saga-server answers GET /api/orders with when it holds no orders.
QJsonObject emptyOrderList()
{
    return QJsonObject{{"status", 200},
                       {"headers", QJsonObject{{"Content-Type", "application/json"}}},
                       {"jsonBody", QJsonObject{{"orders", QJsonArray()}, {"count", 0}}}};
}

using GuiTest::place;
using GuiTest::statusName;

// The raw events (GET /api/orders/{id}/events) of an order; empty on no answer.
QJsonArray rawEvents(ProgressSource *source, const QUuid &id)
{
    QJsonArray raw;
    bool answered = false;
    QObject context;
    source->loadCase(id, &context, [&](OrderCase c, QString) {
        raw = c.rawEvents;
        answered = true;
    });
    if (!QTest::qWaitFor([&] { return answered; }, kTimeout))
        return {};
    return raw;
}

// How many of the order's executions (attempts) have ended, on the server.
int endedAttempts(ProgressSource *source, const QUuid &id)
{
    int ended = 0;
    for (const QJsonValue &v : rawEvents(source, id)) {
        const QString type = v.toObject().value(QLatin1String("eventType")).toString();
        if (type == QLatin1String("SAGA_COMPLETED") || type == QLatin1String("SAGA_FAILED"))
            ++ended;
    }
    return ended;
}

SourceSpec remoteSpec(const QUrl &url, const QString &token)
{
    SourceSpec spec;
    spec.kind = SourceSpec::Kind::Remote;
    spec.serverUrl = url;
    spec.token = token;
    return spec;
}

// A tiny HTTP server that plays something that is not a saga-server: it
// answers every request with `response` and closes the connection.
class CannedHttpServer
{
public:
    explicit CannedHttpServer(const QByteArray &response)
        : m_response(response)
    {
        m_server.listen(QHostAddress::LocalHost, 0);
        QObject::connect(&m_server, &QTcpServer::newConnection, &m_server, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                QObject::connect(socket, &QTcpSocket::readyRead, socket, [this, socket] {
                    QByteArray &head = m_heads[socket];
                    head += socket->readAll();
                    if (!head.contains("\r\n\r\n"))
                        return;
                    ++m_requests;
                    head.clear();
                    socket->write(m_response);
                    socket->disconnectFromHost();
                });
                QObject::connect(socket, &QTcpSocket::disconnected, socket, [this, socket] {
                    m_heads.remove(socket);
                    socket->deleteLater();
                });
            }
        });
    }
    QUrl url() const { return QUrl(QStringLiteral("http://127.0.0.1:%1").arg(m_server.serverPort())); }
    int requests() const { return m_requests; }

private:
    QTcpServer m_server;
    QByteArray m_response;
    QHash<QTcpSocket *, QByteArray> m_heads;
    int m_requests = 0;
};

QPushButton *buttonWithText(const QWidget *parent, const QString &text)
{
    for (QPushButton *b : parent->findChildren<QPushButton *>()) {
        if (b->text() == text)
            return b;
    }
    return nullptr;
}

int freePort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

// A console following a real saga-server, for the New Order tests: the window and
// its remote source, then (openDialog, once live) the dialog and its parts.
struct NewOrderOnServer {
    MainWindow window;
    RemoteSource *source = nullptr; // owned by the window
    NewOrderDialog *dialog = nullptr;
    QPushButton *placeButton = nullptr;
    QLabel *result = nullptr;

    NewOrderOnServer(const QUrl &url, const QString &token, int requestTimeoutMs = 0)
        : source(new RemoteSource(url, token))
    {
        if (requestTimeoutMs > 0)
            source->setRequestTimeout(requestTimeoutMs);
        window.setSource(source, remoteSpec(url, token));
    }
    // False when the dialog or one of its parts is missing.
    bool openDialog()
    {
        window.showNewOrderDialog();
        dialog = window.findChild<NewOrderDialog *>();
        if (!dialog)
            return false;
        placeButton = buttonWithText(dialog, QStringLiteral("&Place order"));
        result = dialog->findChild<QLabel *>(QStringLiteral("result"));
        return placeButton && result;
    }
};

// Clicks the panel's Retry and accepts the Retry dialog with a corrected payment
// method; false when no dialog was shown.
bool retryWithCorrectedPayment(DetailPanel &panel)
{
    bool dialogSeen = false;
    QTimer::singleShot(0, &panel, [&dialogSeen] {
        auto *dialog = qobject_cast<RetryDialog *>(QApplication::activeModalWidget());
        if (!dialog)
            return;
        dialogSeen = true;
        if (auto *payment = dialog->findChild<QLineEdit *>(QStringLiteral("paymentMethod")))
            payment->setText(QStringLiteral("pm-visa-4242"));
        dialog->accept();
    });
    panel.retryButton()->click();
    return dialogSeen;
}

// A remote source that notes what it is asked to place and what it answers: the
// Idempotency-Key each placement was asked with (empty: a fresh one) and the key
// each answer says it was sent with. `onPlace` runs as a placement is asked for,
// before it is sent.
class WatchedRemoteSource : public RemoteSource
{
public:
    using RemoteSource::RemoteSource;
    void placeOrder(const OrderRequest &request, QObject *context,
                    std::function<void(PlaceOrderResult)> done) override
    {
        askedKeys << request.idempotencyKey;
        if (onPlace)
            onPlace(int(askedKeys.size()));
        RemoteSource::placeOrder(request, context, [this, done = std::move(done)](PlaceOrderResult r) {
            answers << r;
            done(r);
        });
    }
    QStringList askedKeys;
    QVector<PlaceOrderResult> answers;
    std::function<void(int placements)> onPlace;
};

// The Idempotency-Key the order's SAGA_STARTED event records (saga-server's
// GET /api/orders/{id}/events); empty when there is none.
QString startedWithKey(ProgressSource *source, const QUuid &id)
{
    for (const QJsonValue &v : rawEvents(source, id)) {
        const QJsonObject e = v.toObject();
        if (e.value(QLatin1String("eventType")).toString() == QLatin1String("SAGA_STARTED"))
            return e.value(QLatin1String("details")).toObject().value(QLatin1String("idempotencyKey")).toString();
    }
    return {};
}

// Holds saga-server's SQLite write lock (BEGIN IMMEDIATE on a connection of the
// test's own) until release() or the end of the scope: the server's commits wait.
class HeldWriteLock
{
public:
    explicit HeldWriteLock(const QString &database)
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name());
        db.setDatabaseName(database.mid(int(qstrlen("sqlite:"))));
        if (!db.open()) {
            m_error = db.lastError().text();
            return;
        }
        QSqlQuery q(db);
        if (!q.exec(QStringLiteral("BEGIN IMMEDIATE")))
            m_error = q.lastError().text();
        else
            m_held = true;
    }
    ~HeldWriteLock()
    {
        release();
        QSqlDatabase::removeDatabase(name());
    }
    QString error() const { return m_error; }
    void release()
    {
        QSqlDatabase db = QSqlDatabase::database(name(), false);
        if (m_held) {
            QSqlQuery(db).exec(QStringLiteral("ROLLBACK"));
            m_held = false;
        }
        db.close();
    }

private:
    static QString name() { return QStringLiteral("write_lock_holder"); }
    QString m_error;
    bool m_held = false;
};

// A copy of saga-server's SQLite database taken while it runs (VACUUM INTO, as
// a backup would be); returns an error text or "".
QString backUp(const QString &database, const QString &toFile)
{
    const QString name = QStringLiteral("backup_taker");
    QString error;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(database.mid(int(qstrlen("sqlite:"))));
        if (!db.open()) {
            error = db.lastError().text();
        } else {
            QSqlQuery q(db);
            q.prepare(QStringLiteral("VACUUM INTO ?"));
            q.addBindValue(toFile);
            if (!q.exec())
                error = q.lastError().text();
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    return error;
}

// WireMock answering like saga-server.
QJsonObject jsonAnswer(int status, const QJsonValue &json)
{
    return QJsonObject{{"status", status},
                       {"headers", QJsonObject{{"Content-Type", "application/json"}}},
                       {"jsonBody", json}};
}

QString eventsPath(const QUuid &orderId)
{
    return QStringLiteral("/api/orders/%1/events").arg(orderId.toString(QUuid::WithoutBraces));
}

// WireMock as a saga-server with no orders listed whose all-orders stream, from
// the start, sends one event (SAGA_STARTED of a new order, position 5) and ends.
// Returns that event.
OrderEvent stubServerShowingOneEvent(WireMockAdmin &admin)
{
    OrderEvent shown;
    shown.orderId = QUuid::createUuid();
    shown.seq = 1;
    shown.position = 5;
    shown.type = EventType::SagaStarted;
    shown.timestamp = QDateTime::currentDateTimeUtc();
    admin.stub("GET", "/api/orders", emptyOrderList());
    const QByteArray frame = "id: 5\nevent: SAGA_STARTED\ndata: "
                             + QJsonDocument(SagaJson::statusEventToJson(shown, QStringLiteral("QUEUED")))
                                   .toJson(QJsonDocument::Compact)
                             + "\n\n";
    admin.stub("GET", "/api/orders/stream",
               QJsonObject{{"status", 200},
                           {"headers", QJsonObject{{"Content-Type", "text/event-stream"}}},
                           {"body", QString::fromUtf8(frame)}});
    return shown;
}

// What the all-orders stream answers when resumed with Last-Event-ID: 5.
void stubResumedStream(WireMockAdmin &admin, const QJsonObject &response)
{
    admin.call("POST", QStringLiteral("/__admin/mappings"),
               QJsonObject{{"priority", 1},
                           {"request", QJsonObject{{"method", "GET"},
                                                   {"urlPath", "/api/orders/stream"},
                                                   {"headers", QJsonObject{{"Last-Event-ID",
                                                                            QJsonObject{{"equalTo", "5"}}}}}}},
                           {"response", response}});
}

// What GET /api/orders?q=ID (one order's list entry, read again) answers: `entry`.
void stubListEntry(WireMockAdmin &admin, const OrderProgress &entry)
{
    admin.call("POST", QStringLiteral("/__admin/mappings"),
               QJsonObject{{"priority", 1},
                           {"request",
                            QJsonObject{{"method", "GET"},
                                        {"urlPath", "/api/orders"},
                                        {"queryParameters",
                                         QJsonObject{{"q", QJsonObject{{"equalTo", entry.orderId.toString(QUuid::WithoutBraces)}}}}}}},
                           {"response", jsonAnswer(200, QJsonObject{{"orders", QJsonArray{SagaJson::orderListItemToJson(entry)}},
                                                                   {"count", 1}})}});
}

// How many requests WireMock received for `path` (with that Last-Event-ID, if given).
int requestsTo(WireMockAdmin &admin, const QString &path, const QByteArray &lastEventId = {})
{
    int n = 0;
    for (const WireMockAdmin::Seen &r : admin.journal()) {
        if (r.path == path
            && (lastEventId.isNull() || r.header(QLatin1String("Last-Event-ID")) == QString::fromLatin1(lastEventId)))
            ++n;
    }
    return n;
}

using GuiTest::ShownOrders;

// A saga-server with a SUPPORT token, followed by a remote source (backoff at most
// 1 s) that feeds ShownOrders; `replaced` counts its contentsReplaced.
struct FollowedServer {
    SagaServerProcess server;
    QString token;
    ShownOrders shown;
    std::unique_ptr<RemoteSource> source;
    std::unique_ptr<QSignalSpy> replaced;
    // Starts both; "" once the source is live, else why not.
    QString start()
    {
        QString error = server.startWithSupportToken(&token);
        if (!error.isEmpty())
            return error;
        source = std::make_unique<RemoteSource>(server.url(), token);
        source->setMaxBackoff(1000);
        shown.follow(source.get());
        replaced = std::make_unique<QSignalSpy>(source.get(), &ProgressSource::contentsReplaced);
        source->start();
        if (!QTest::qWaitFor([this] { return source->state() == ProgressSource::State::Live; }, kTimeout))
            return QStringLiteral("the source did not go live: ") + source->stateMessage();
        return {};
    }
};

// The orders the model shows, but `marker`.
QVector<QUuid> ordersBut(const OrderTreeModel &model, const QUuid &marker)
{
    QVector<QUuid> out;
    for (int row = 0; row < model.orderCount(); ++row) {
        const QUuid id = model.index(row, 0).data(OrderTreeModel::OrderIdRole).toUuid();
        if (id != marker)
            out << id;
    }
    return out;
}
} // namespace

class tst_RemoteSource : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void parserIsIncremental();
    void parserBoundsAnEvent();
    void wrongTokenSaysWhatToDo();
    void unreachableServerSaysWhatToDo();
    void httpsToAPlainServerSaysUseHttp();
    void retriesKeepSayingWhyAndAreLoggedOnce();
    void liveStreamDropAndResume();
    void serverBackOnAnotherDatabaseIsReloaded();
    void resumedStreamWithAHoleIsReloaded();
    void serverBackOnABackupIsReloaded();
    void unresumableStreamIsReloaded_data();
    void unresumableStreamIsReloaded();
    void lastEventShownIsLookedUpFirst_data();
    void lastEventShownIsLookedUpFirst();
    void eventOfANewerServerIsCaughtUpOn_data();
    void eventOfANewerServerIsCaughtUpOn();
    void unreadableFirstEventOfANewOrderIsNoStranger();
    void oversizedStreamEventDropsTheStream();
    void notAnEventStreamIsNotLive();
    void timedOutRequestIsQuiet();
    void orderOnAFrozenServerIsPlacedOnce();
    void unansweredOrderSentAgainIsPlacedOnce();
    void orderWhoseOutcomeIsUnknownIsSentAgainOnce();
    void sameKeyAgainIsAlreadyPlaced();
    void orderSentAgainAfterItWasPlacedSaysSo();
    void demoTrafficSendsAnUnansweredOrderAgainWithItsKey();
    void retryOnAFrozenServerMayHaveStarted();
    void redirectedOrderIsNotPlacedElsewhere_data();
    void redirectedOrderIsNotPlacedElsewhere();
    void unavailableServerSaysWhy_data();
    void unavailableServerSaysWhy();
    void limitedOrderSaysWhenToTryAgain();
    void limitedRetrySaysWhenToTryAgain();
    void demoTrafficPausesForRetryAfter();
    void limitedStreamWaitsForRetryAfter();
};

void tst_RemoteSource::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true); // the main window's settings
}

void tst_RemoteSource::parserIsIncremental()
{
    SseStreamParser parser;
    const QByteArray stream = ": connected\r\n\r\nid: 7\nevent: STEP_STARTED\ndata: {\"a\":\ndata: 1}\n\nretry: 3000\nid: 8\ndata: x\r\n\r\n";
    QVector<SseEvent> events;
    for (char c : stream) // byte by byte: nothing may depend on chunk boundaries
        events += parser.feed(QByteArray(1, c));
    QCOMPARE(events.size(), 2);
    QCOMPARE(events.at(0).id, QStringLiteral("7"));
    QCOMPARE(events.at(0).event, QStringLiteral("STEP_STARTED"));
    QCOMPARE(events.at(0).data, QByteArray("{\"a\":\n1}"));
    QCOMPARE(events.at(1).id, QStringLiteral("8"));
    QCOMPARE(events.at(1).event, QStringLiteral("message"));
    QCOMPARE(parser.retryMs(), 3000);
    QCOMPARE(parser.commentCount(), 1);
    QCOMPARE(parser.lastEventId(), QStringLiteral("8"));
}

void tst_RemoteSource::parserBoundsAnEvent()
{
    // A line (or an event's data) that never ends is not buffered without bound.
    SseStreamParser parser;
    QVERIFY(parser.feed("id: 1\ndata: {}\n\n").size() == 1);
    const QByteArray chunk(64 * 1024, 'x');
    QVector<SseEvent> events = parser.feed("data: ");
    int fed = 0;
    while (!parser.overflowed() && fed < 200) {
        events += parser.feed(chunk);
        ++fed;
    }
    QVERIFY(parser.overflowed());
    // Stopped by the chunk that took the line ("data: " and the chunks) past the bound, not before.
    QVERIFY(6 + qsizetype(fed) * chunk.size() > SseStreamParser::kMaxEventBytes);
    QVERIFY(6 + qsizetype(fed - 1) * chunk.size() <= SseStreamParser::kMaxEventBytes);
    QVERIFY(events.isEmpty());
    QVERIFY(parser.feed("\n\nid: 2\ndata: {}\n\n").isEmpty()); // stopped until reset
    // Many data lines of one event count together.
    parser.reset();
    QVERIFY(!parser.overflowed());
    QCOMPARE(parser.feed("id: 3\ndata: {}\n\n").size(), 1);
    for (int i = 0; i < 100 && !parser.overflowed(); ++i)
        parser.feed("data: " + chunk + "\n");
    QVERIFY(parser.overflowed());
    QCOMPARE(parser.lastEventId(), QStringLiteral("3"));
}

void tst_RemoteSource::wrongTokenSaysWhatToDo()
{
    SagaServerProcess server;
    const QString error = server.start();
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    RemoteSource source(server.url(), QStringLiteral("not-a-token"));
    QSignalSpy states(&source, &ProgressSource::connectionStateChanged);
    QVERIFY(states.isValid());
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Failed, kTimeout);
    QVERIFY2(source.stateMessage().contains(QLatin1String("401")), qPrintable(source.stateMessage()));
    QVERIFY(source.stateMessage().contains(QLatin1String("new SUPPORT token")));

    // A valid token without SUPPORT may not list every order.
    QString mintError;
    const QString customerToken = server.mintToken(false, &mintError);
    if (customerToken.isEmpty())
        QFAIL(qPrintable(mintError));
    RemoteSource customer(server.url(), customerToken);
    customer.start();
    QTRY_COMPARE_WITH_TIMEOUT(customer.state(), ProgressSource::State::Failed, kTimeout);
    QVERIFY2(customer.stateMessage().contains(QLatin1String("SUPPORT")), qPrintable(customer.stateMessage()));
}

void tst_RemoteSource::unreachableServerSaysWhatToDo()
{
    const QUrl nowhere(QStringLiteral("http://127.0.0.1:%1").arg(freePort()));
    RemoteSource source(nowhere, QStringLiteral("x.y.z"));
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Reconnecting, kTimeout);
    QVERIFY2(source.stateMessage().contains(QLatin1String("Cannot reach saga-server")), qPrintable(source.stateMessage()));
    QVERIFY(source.stateMessage().contains(QLatin1String("retrying"), Qt::CaseInsensitive));
}

// https:// to a saga-server that speaks plain HTTP (the TLS handshake gets an
// HTTP error page or a closed connection): the sentence names the likely fix.
void tst_RemoteSource::httpsToAPlainServerSaysUseHttp()
{
    SagaServerProcess server;
    const QString error = server.start();
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    QUrl https = server.url();
    https.setScheme(QStringLiteral("https"));
    RemoteSource source(https, QStringLiteral("x.y.z"));
    GuiTest::WarningLog log;
    source.start();
    QTRY_VERIFY_WITH_TIMEOUT(source.state() == ProgressSource::State::Reconnecting
                                 || source.state() == ProgressSource::State::Failed,
                             kTimeout);
    QVERIFY2(source.stateMessage().contains(QStringLiteral("http://")), qPrintable(source.stateMessage()));
}

// Retries of one outage keep the state and its sentence (no flicker to
// "Reconnecting…" at each attempt) and log the reason once, not once per retry.
void tst_RemoteSource::retriesKeepSayingWhyAndAreLoggedOnce()
{
    const QUrl nowhere(QStringLiteral("http://127.0.0.1:%1").arg(freePort()));
    RemoteSource source(nowhere, QStringLiteral("x.y.z"));
    source.setMaxBackoff(200);
    GuiTest::WarningLog log;
    QSignalSpy states(&source, &ProgressSource::connectionStateChanged);
    source.start();
    QTRY_VERIFY_WITH_TIMEOUT(source.reconnectCount() >= 6, kTimeout);
    // Connecting, then Reconnecting with why: nothing else however often it retries.
    QVERIFY2(states.count() == 2, qPrintable(QStringLiteral("%1 state changes").arg(states.count())));
    QCOMPARE(states.at(1).first().value<ProgressSource::State>(), ProgressSource::State::Reconnecting);
    QVERIFY2(source.stateMessage().contains(QLatin1String("Cannot reach saga-server")), qPrintable(source.stateMessage()));
    QCOMPARE(log.count(QStringLiteral("connection lost")), 1);
}

void tst_RemoteSource::liveStreamDropAndResume()
{
    SagaServerProcess server;
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));

    // Orders that exist before the console connects (placed through an unstarted source).
    RemoteSource placer(server.url(), token);
    const QUuid before = place(&placer, OrderPresets::make(OrderPreset::HappyPath), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QUuid declined = place(&placer, OrderPresets::make(OrderPreset::DeclinedCard), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    RetryEligibility eligibility;
    QTRY_VERIFY_WITH_TIMEOUT(([&] {
                                 bool done = false;
                                 placer.retryEligibility(declined, this, [&](RetryEligibility e, QString) {
                                     eligibility = e;
                                     done = true;
                                 });
                                 const bool waited = QTest::qWaitFor([&] { return done; }, kTimeout);
                                 return waited && eligibility.eligible;
                             }()),
                             kTimeout);

    ShownOrders shown;
    OrderTreeModel &model = shown.model;
    QSignalSpy rejected(&model, &OrderTreeModel::eventRejected);
    QVERIFY(rejected.isValid());
    RemoteSource source(server.url(), token);
    source.setMaxBackoff(1000);
    QSignalSpy loaded(&source, &ProgressSource::initialLoadFinished);
    shown.follow(&source);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    QCOMPARE(model.orderCount(), 2);
    QCOMPARE(statusName(model, before), QStringLiteral("COMPLETED"));
    QCOMPARE(statusName(model, declined), QStringLiteral("ROLLED_BACK"));
    // Orders listed, not seen happening, still say why they failed, when they
    // were placed and which attempt they are on (as the embedded source does).
    const OrderProgress *listed = model.order(declined);
    QCOMPARE(listed->failure.code, QStringLiteral("PAYMENT_DECLINED"));
    QVERIFY(!listed->failure.message.isEmpty());
    QCOMPARE(listed->failedStep, std::optional<SagaStep>(SagaStep::Payment));
    QCOMPARE(listed->step(SagaStep::Payment).errorCode, QStringLiteral("PAYMENT_DECLINED"));
    QCOMPARE(listed->attemptNumber, 1);
    const QDateTime placed = listed->createdAt;
    QVERIFY(placed.isValid());
    QVERIFY(!model.order(before)->confirmationNumber.isEmpty());

    // Live: a new order, and a retry of a listed order (its events follow the listed snapshot).
    const QUuid live = place(&source, OrderPresets::make(OrderPreset::InvalidAddress), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(model, live), QStringLiteral("ROLLED_BACK"), kTimeout);
    DetailPanel panel(&model);
    panel.setSource(&source);
    panel.setOrder(live);
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    // The case holds the stored order (what the retry form starts from).
    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded(), kTimeout);
    QVERIFY(panel.orderCase().record);
    QCOMPARE(panel.orderCase().record->shippingAddress.postalCode,
             OrderPresets::make(OrderPreset::InvalidAddress).shippingAddress.postalCode);
    RetryRequest retry;
    retry.orderId = declined;
    retry.paymentMethodId = QStringLiteral("pm-visa-4242");
    RetryDecision decision;
    bool answered = false;
    source.retry(retry, this, [&](RetryDecision d) {
        decision = d;
        answered = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(answered, kTimeout);
    QVERIFY2(decision.code == RetryDecision::Accepted, qPrintable(decision.reason));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(model, declined), QStringLiteral("COMPLETED"), kTimeout);
    QCOMPARE(model.order(declined)->attemptNumber, 2);
    QCOMPARE(model.order(declined)->createdAt, placed); // placed then, not when retried
    const qint64 positionBeforeDrop = source.lastPosition();
    QVERIFY(positionBeforeDrop > 0);
    QSignalSpy replaced(&source, &ProgressSource::contentsReplaced);

    // Drop: the server dies. The source says so and keeps what it has.
    server.kill();
    QTRY_VERIFY_WITH_TIMEOUT(source.state() == ProgressSource::State::Stale
                                 || source.state() == ProgressSource::State::Reconnecting,
                             kTimeout);
    QVERIFY2(source.stateMessage().contains(QLatin1String("retrying"))
                 || source.stateMessage().contains(QLatin1String("Reconnecting")),
             qPrintable(source.stateMessage()));
    QCOMPARE(model.orderCount(), 3);
    // The panel asks again when the source's state changes: no retry offered
    // while the server is away ...
    QTRY_VERIFY_WITH_TIMEOUT(!panel.retryButton()->isEnabled(), kTimeout);

    // Back on the same port and database; orders placed right away (probably before the
    // source reconnects) arrive through Last-Event-ID, exactly once.
    error = server.start(server.port());
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    RemoteSource placer2(server.url(), token);
    QVector<QUuid> after;
    for (OrderPreset p : {OrderPreset::HappyPath, OrderPreset::OutOfStock}) {
        after << place(&placer2, OrderPresets::make(p), &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    // ... and offered again once it is back.
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(statusName(model, after.at(0)), QStringLiteral("COMPLETED"), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(statusName(model, after.at(1)), QStringLiteral("FAILED"), kTimeout);
    QVERIFY(source.reconnectCount() >= 1);
    QVERIFY(source.lastPosition() > positionBeforeDrop);
    QCOMPARE(model.orderCount(), 5);
    QCOMPARE(rejected.count(), 0);
    QCOMPARE(replaced.count(), 0); // the same database: resumed, not reloaded
    for (const QUuid &id : after)
        QCOMPARE(model.order(id)->bufferedCount(), 0);
}

// saga-server restarted on the same port with another (smaller) database: a
// resume from the position shown is answered 400 (after the newest event). The
// window drops every order it showed, loads the server's orders, is live again,
// and says why once (log and state message), with the server's own words.
void tst_RemoteSource::serverBackOnAnotherDatabaseIsReloaded()
{
    SagaServerProcess server;
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    GuiTest::WarningLog log;
    MainWindow window;
    auto *source = new RemoteSource(server.url(), token);
    source->setMaxBackoff(1000);
    window.setSource(source, remoteSpec(server.url(), token));
    QTRY_COMPARE_WITH_TIMEOUT(source->state(), ProgressSource::State::Live, kTimeout);
    RemoteSource placer(server.url(), token);
    QVector<QUuid> onA; // seen happening: their events' positions are the source's
    for (OrderPreset p : {OrderPreset::HappyPath, OrderPreset::HappyPath, OrderPreset::OutOfStock}) {
        onA << place(&placer, OrderPresets::make(p), &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }
    for (const QUuid &id : onA)
        QTRY_VERIFY_WITH_TIMEOUT(window.model()->order(id) && window.model()->order(id)->isTerminal(), kTimeout);
    const qint64 positionOnA = source->lastPosition();
    QVERIFY(positionOnA > 0);
    window.selectOrder(onA.at(0));
    QCOMPARE(window.detailPanel()->orderId(), onA.at(0));

    server.kill();
    QTRY_VERIFY_WITH_TIMEOUT(source->state() != ProgressSource::State::Live, kTimeout);
    server.setDatabase(QStringLiteral("sqlite:") + TestServices::tempDir() + QStringLiteral("/other.sqlite"));
    error = server.start(server.port());
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    RemoteSource placerB(server.url(), token);
    const QUuid onB = place(&placerB, OrderPresets::make(OrderPreset::HappyPath), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    QTRY_VERIFY_WITH_TIMEOUT(window.model()->order(onB), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(statusName(*window.model(), onB), QStringLiteral("COMPLETED"), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(source->state(), ProgressSource::State::Live, kTimeout);
    QCOMPARE(window.model()->orderCount(), 1); // none of the first database's orders
    for (const QUuid &id : onA)
        QVERIFY(!window.model()->order(id));
    QCOMPARE(window.model()->order(onB)->bufferedCount(), 0);
    QCOMPARE(window.detailPanel()->orderId(), QUuid()); // the selected order is gone with them
    // (The order shown last is not on the server: found before the stream is asked for.)
    QVERIFY2(source->stateMessage().contains(QLatin1String("holds other events than those shown")),
             qPrintable(source->stateMessage()));
    QVERIFY2(source->stateMessage().contains(QLatin1String("loaded again")), qPrintable(source->stateMessage()));
    QCOMPARE(log.count(QStringLiteral("data replaced")), 1);

    // Followed from here like any server: a new order arrives live.
    const QUuid later = place(&placerB, OrderPresets::make(OrderPreset::OutOfStock), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(*window.model(), later), QStringLiteral("FAILED"), kTimeout);
    QCOMPARE(window.model()->orderCount(), 2);
    QVERIFY(source->lastPosition() > 0); // positions of the second database now
    QVERIFY(source->lastPosition() < positionOnA);
    QCOMPARE(log.count(QStringLiteral("data replaced")), 1);
}

// The same without a 400: the other database already has more events than the
// position resumed from, so the server replays its own events from there. The
// first one belongs to an order never seen and is not its first event: the
// stream is not the continuation of what is shown, and everything is reloaded.
void tst_RemoteSource::resumedStreamWithAHoleIsReloaded()
{
    FollowedServer followed;
    QString error = followed.start();
    QVERIFY2(error.isEmpty(), qPrintable(error));
    RemoteSource placer(followed.server.url(), followed.token);
    const QUuid onA = place(&placer, OrderPresets::make(OrderPreset::OutOfStock), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(followed.shown.model, onA), QStringLiteral("FAILED"), kTimeout);
    const qint64 positionOnA = followed.source->lastPosition();
    QVERIFY(positionOnA > 0);

    // Another server, another database: one order, declined then retried, whose
    // events go past positionOnA.
    SagaServerProcess other;
    error = other.start();
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    const QString otherToken = other.mintToken(true, &error);
    RemoteSource placerB(other.url(), otherToken);
    const QUuid onB = place(&placerB, OrderPresets::make(OrderPreset::DeclinedCard), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(endedAttempts(&placerB, onB), 1, kTimeout);
    RetryRequest retry;
    retry.orderId = onB;
    retry.paymentMethodId = QStringLiteral("pm-visa-4242");
    RetryDecision decision;
    bool answered = false;
    placerB.retry(retry, this, [&](RetryDecision d) {
        decision = d;
        answered = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(answered, kTimeout);
    QVERIFY2(decision.code == RetryDecision::Accepted, qPrintable(decision.reason));
    QTRY_COMPARE_WITH_TIMEOUT(endedAttempts(&placerB, onB), 2, kTimeout);
    // Its only order: positions 1..n are its events.
    QVERIFY2(rawEvents(&placerB, onB).size() > positionOnA + 1,
             qPrintable(QStringLiteral("%1 events, resumed from %2").arg(rawEvents(&placerB, onB).size()).arg(positionOnA)));
    other.stop();

    followed.server.kill();
    QTRY_VERIFY_WITH_TIMEOUT(followed.source->state() != ProgressSource::State::Live, kTimeout);
    followed.server.setDatabase(other.database());
    error = followed.server.start(followed.server.port());
    if (!error.isEmpty())
        QFAIL(qPrintable(error));

    QTRY_COMPARE_WITH_TIMEOUT(statusName(followed.shown.model, onB), QStringLiteral("COMPLETED"), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(followed.source->state(), ProgressSource::State::Live, kTimeout);
    QCOMPARE(followed.replaced->count(), 1);
    QCOMPARE(followed.shown.model.orderCount(), 1);
    QVERIFY(!followed.shown.model.order(onA));
    QCOMPARE(followed.shown.model.order(onB)->attemptNumber, 2);
    QCOMPARE(followed.shown.model.order(onB)->bufferedCount(), 0);
    QVERIFY2(followed.source->stateMessage().contains(QLatin1String("holds other events than those shown")),
             qPrintable(followed.source->stateMessage()));
}

// saga-server back on a backup of its database taken before the last order
// shown, which has since taken new orders of its own past the position resumed
// from, each ended before the next began: the resumed stream has no hole (every
// order after that position starts there), but the order whose event was shown
// last is not on the server. Everything is reloaded instead of showing that
// order next to the backup's later ones (and missing the one in between).
void tst_RemoteSource::serverBackOnABackupIsReloaded()
{
    FollowedServer followed;
    QString error = followed.start();
    QVERIFY2(error.isEmpty(), qPrintable(error));
    RemoteSource placer(followed.server.url(), followed.token);
    const QUuid first = place(&placer, OrderPresets::make(OrderPreset::HappyPath), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(followed.shown.model, first), QStringLiteral("COMPLETED"), kTimeout);
    const QString backup = TestServices::tempDir() + QStringLiteral("/backup.sqlite");
    error = backUp(followed.server.database(), backup);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QUuid lost = place(&placer, OrderPresets::make(OrderPreset::HappyPath), &error); // not in the backup
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(followed.shown.model, lost), QStringLiteral("COMPLETED"), kTimeout);
    const qint64 shownUpTo = followed.source->lastPosition();
    QVERIFY(shownUpTo > 0);

    // The backup in use elsewhere: orders one after the other, until its positions
    // are past the one shown.
    SagaServerProcess other;
    other.setDatabase(QStringLiteral("sqlite:") + backup);
    error = other.start();
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    const QString otherToken = other.mintToken(true, &error);
    RemoteSource placerB(other.url(), otherToken);
    QVector<QUuid> onBackup;
    qint64 eventsOnBackup = rawEvents(&placerB, first).size();
    QCOMPARE(eventsOnBackup, rawEvents(&placer, first).size());
    while (eventsOnBackup <= shownUpTo + 1) {
        onBackup << place(&placerB, OrderPresets::make(OrderPreset::OutOfStock), &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QTRY_COMPARE_WITH_TIMEOUT(endedAttempts(&placerB, onBackup.last()), 1, kTimeout);
        eventsOnBackup += rawEvents(&placerB, onBackup.last()).size();
    }
    other.stop();
    QVERIFY(onBackup.size() >= 2);

    followed.server.kill();
    QTRY_VERIFY_WITH_TIMEOUT(followed.source->state() != ProgressSource::State::Live, kTimeout);
    followed.server.setDatabase(other.database());
    error = followed.server.start(followed.server.port());
    if (!error.isEmpty())
        QFAIL(qPrintable(error));

    QTRY_COMPARE_WITH_TIMEOUT(followed.replaced->count(), 1, kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(followed.source->state(), ProgressSource::State::Live, kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(followed.shown.model.orderCount(), 1 + int(onBackup.size()), kTimeout);
    QVERIFY(!followed.shown.model.order(lost));
    QCOMPARE(statusName(followed.shown.model, first), QStringLiteral("COMPLETED"));
    for (const QUuid &id : std::as_const(onBackup))
        QCOMPARE(statusName(followed.shown.model, id), QStringLiteral("FAILED"));
    QVERIFY2(followed.source->stateMessage().contains(lost.toString(QUuid::WithoutBraces))
                 && followed.source->stateMessage().contains(QLatin1String("is not there")),
             qPrintable(followed.source->stateMessage()));

    // Followed from here like any followed.server.
    RemoteSource placerC(followed.server.url(), followed.token);
    const QUuid later = place(&placerC, OrderPresets::make(OrderPreset::HappyPath), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(followed.shown.model, later), QStringLiteral("COMPLETED"), kTimeout);
    QCOMPARE(followed.replaced->count(), 1);
}

// The last event shown is on the server as it was, yet the stream cannot go on
// from it (a server swapped between that check and the stream's request):
// WireMock plays a saga-server whose resumed stream answers 400 (the position is
// after its newest event), or sends an event of an order never seen that is not
// its first. Either way everything is loaded again, and the log says why.
void tst_RemoteSource::unresumableStreamIsReloaded_data()
{
    QTest::addColumn<QJsonObject>("resumed");
    QTest::addColumn<QString>("why");
    QTest::newRow("400 after the newest event")
        << QJsonObject{{"status", 400},
                       {"headers", QJsonObject{{"Content-Type", "application/json"}}},
                       {"jsonBody", QJsonObject{{"error", "INVALID_FIELD"},
                                                {"message", "Last-Event-ID: is after the newest event (3)"}}}}
        << QStringLiteral("cannot continue from event 5 (it answered: Last-Event-ID: is after the newest event (3))");
    OrderEvent stranger;
    stranger.orderId = QUuid::createUuid();
    stranger.seq = 3;
    stranger.position = 6;
    stranger.type = EventType::StepStarted;
    stranger.step = SagaStep::Payment;
    stranger.timestamp = QDateTime::currentDateTimeUtc();
    const QByteArray frame = "id: 6\nevent: STEP_STARTED\ndata: "
                             + QJsonDocument(SagaJson::statusEventToJson(stranger, QStringLiteral("IN_PROGRESS")))
                                   .toJson(QJsonDocument::Compact)
                             + "\n\n";
    QTest::newRow("a hole")
        << QJsonObject{{"status", 200},
                       {"headers", QJsonObject{{"Content-Type", "text/event-stream"}}},
                       {"body", QString::fromUtf8(frame)}}
        << QStringLiteral("sent event 3 of an order never seen here (%1) after position 5")
               .arg(stranger.orderId.toString(QUuid::WithoutBraces));
}

void tst_RemoteSource::unresumableStreamIsReloaded()
{
    QFETCH(QJsonObject, resumed);
    QFETCH(QString, why);
    QString error;
    const QUrl wiremock = TestServices::freshWireMock(&error);
    QVERIFY2(!wiremock.isEmpty(), qPrintable(error));
    WireMockAdmin admin(wiremock);
    const OrderEvent shown = stubServerShowingOneEvent(admin);
    // The last event shown is there, as it was.
    admin.stub("GET", eventsPath(shown.orderId), jsonAnswer(200, QJsonArray{SagaJson::rawEventToJson(shown)}));
    // The stream resumed from it.
    stubResumedStream(admin, resumed);
    GuiTest::WarningLog log;
    RemoteSource source(wiremock, QStringLiteral("x.y.z"));
    source.setMaxBackoff(1000);
    QSignalSpy replaced(&source, &ProgressSource::contentsReplaced);
    QSignalSpy events(&source, &ProgressSource::eventsReady);
    source.start();
    QTRY_VERIFY_WITH_TIMEOUT(replaced.count() >= 1, kTimeout);
    QVERIFY2(log.count(QStringLiteral("data replaced")) >= 1, "not logged");
    QVERIFY2(log.count(why) >= 1, qPrintable(replaced.first().first().toString()));
    QVERIFY(replaced.first().first().toString().contains(why));
    // Nothing of the stranger's was passed on, and the order shown was checked on the server first.
    for (const QList<QVariant> &batch : std::as_const(events))
        for (const OrderEvent &e : batch.first().value<OrderEventList>())
            QCOMPARE(e.orderId, shown.orderId);
    QVERIFY(requestsTo(admin, eventsPath(shown.orderId)) >= 1);
    source.stop();
    QVERIFY2(TestServices::resetWireMock(&error), qPrintable(error));
}

// Before a dropped stream is resumed, the last event shown is looked up on the
// server (WireMock playing saga-server): the same event resumes the stream; an
// order the server does not hold, or another event at its seq, reloads everything
// (and says which); an answer that is no saga-server's, or a server whose database
// is away, is an outage like any other: what is shown stays, retried with backoff.
void tst_RemoteSource::lastEventShownIsLookedUpFirst_data()
{
    QTest::addColumn<int>("answer");
    QTest::addColumn<bool>("reloads");
    QTest::addColumn<QString>("says");
    QTest::newRow("the same event") << 0 << false << QString();
    QTest::newRow("order not there") << 1 << true << QStringLiteral("whose event 1 was the last one shown, is not there");
    QTest::newRow("another time") << 2 << true << QStringLiteral("event 1 of order");
    QTest::newRow("another type") << 3 << true << QStringLiteral("is not the SAGA_STARTED of");
    QTest::newRow("a web page") << 4 << false << QStringLiteral("does not look like a saga-server");
    QTest::newRow("database away") << 5 << false << QStringLiteral("(503): The database is unavailable.");
}

void tst_RemoteSource::lastEventShownIsLookedUpFirst()
{
    QFETCH(int, answer);
    QFETCH(bool, reloads);
    QFETCH(QString, says);
    QString error;
    const QUrl wiremock = TestServices::freshWireMock(&error);
    QVERIFY2(!wiremock.isEmpty(), qPrintable(error));
    WireMockAdmin admin(wiremock);
    const OrderEvent shown = stubServerShowingOneEvent(admin);
    OrderEvent there = shown;
    if (answer == 2)
        there.timestamp = shown.timestamp.addMSecs(-1500);
    if (answer == 3) {
        there.type = EventType::StepStarted;
        there.step = SagaStep::Inventory;
    }
    const QJsonObject answers[] = {
        jsonAnswer(200, QJsonArray{SagaJson::rawEventToJson(there)}),
        jsonAnswer(404, QJsonObject{{"error", "NOT_FOUND"}, {"message", "No such order. Check the order id."}}),
        jsonAnswer(200, QJsonArray{SagaJson::rawEventToJson(there)}),
        jsonAnswer(200, QJsonArray{SagaJson::rawEventToJson(there)}),
        QJsonObject{{"status", 200},
                    {"headers", QJsonObject{{"Content-Type", "text/html"}}},
                    {"body", "<html><body>It works</body></html>"}},
        jsonAnswer(503, QJsonObject{{"error", "SERVICE_UNAVAILABLE"}, {"message", "The database is unavailable."}}),
    };
    admin.stub("GET", eventsPath(shown.orderId), answers[answer]);
    // A resumed stream that ends at once: asked for again (and checked again) and again.
    stubResumedStream(admin, QJsonObject{{"status", 200},
                                         {"headers", QJsonObject{{"Content-Type", "text/event-stream"}}},
                                         {"body", ": resumed\n\n"}});
    RemoteSource source(wiremock, QStringLiteral("x.y.z"));
    source.setMaxBackoff(500);
    QSignalSpy replaced(&source, &ProgressSource::contentsReplaced);
    QStringList messages;
    connect(&source, &ProgressSource::connectionStateChanged, this,
            [&](ProgressSource::State, const QString &message) { messages << message; });
    source.start();
    QTRY_VERIFY_WITH_TIMEOUT(source.lastPosition() == shown.position, kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(requestsTo(admin, eventsPath(shown.orderId)) >= 2, kTimeout);
    if (reloads) {
        QVERIFY(replaced.count() >= 1);
        const QString why = replaced.first().first().toString();
        QVERIFY2(why.contains(says) && why.contains(shown.orderId.toString(QUuid::WithoutBraces)), qPrintable(why));
        QCOMPARE(requestsTo(admin, QStringLiteral("/api/orders/stream"), "5"), 0); // never resumed from there
    } else {
        QCOMPARE(replaced.count(), 0);
        if (says.isEmpty()) // resumed from the event shown
            QVERIFY(requestsTo(admin, QStringLiteral("/api/orders/stream"), "5") >= 1);
        else {
            QCOMPARE(requestsTo(admin, QStringLiteral("/api/orders/stream"), "5"), 0);
            QVERIFY2(messages.filter(says).size() >= 1, qPrintable(messages.join(QLatin1Char('\n'))));
            QCOMPARE(source.lastPosition(), shown.position); // still shown, still resumed from there later
        }
    }
    source.stop();
    QVERIFY2(TestServices::resetWireMock(&error), qPrintable(error));
}

// A newer saga-server streams an event type this console does not know (here
// WireMock: STEP_AUDITED between two known events of an order that then
// completes). The event cannot be applied, so the order's later events waited
// behind it for good: the order stayed IN_PROGRESS in the console however it
// ended. Now the console reads that order's list entry again (GET
// /api/orders?q=ID, which carries its state and last seq) and goes on from there.
// Also when the event comes while the first load is still out (its page, read
// before the event, was applied after the entry read again and took the order
// back behind the new event): the entry is then read once the load is done.
void tst_RemoteSource::eventOfANewerServerIsCaughtUpOn_data()
{
    QTest::addColumn<bool>("duringFirstLoad");
    QTest::newRow("while live") << false;
    QTest::newRow("during the first load") << true;
}

void tst_RemoteSource::eventOfANewerServerIsCaughtUpOn()
{
    QFETCH(bool, duringFirstLoad);
    QString error;
    const QUrl wiremock = TestServices::freshWireMock(&error);
    QVERIFY2(!wiremock.isEmpty(), qPrintable(error));
    WireMockAdmin admin(wiremock);
    const QUuid id = QUuid::createUuid();
    // The newer server's events: the first three of a saga that succeeds, its own
    // STEP_AUDITED (seq 4), and the other five (seq 5..9); positions = seqs.
    QVector<OrderEvent> events = SagaScenarios::scenario(SagaScenarios::Kind::Success, id);
    QByteArray stream = ": hello\n\n";
    QJsonArray raw;
    OrderProgress listed(id); // what its list entry says once the new event is in
    OrderProgress paged(id);  // what a page of the first load read before it said
    for (int i = 0, seq = 1; i < events.size(); ++i, ++seq) {
        OrderEvent &e = events[i];
        if (i == 3) {
            QJsonObject unknown = SagaJson::statusEventToJson(events[2], QStringLiteral("COMPLETED"));
            unknown.insert(QStringLiteral("eventType"), QStringLiteral("STEP_AUDITED"));
            unknown.insert(QStringLiteral("seq"), seq);
            unknown.insert(QStringLiteral("position"), seq);
            stream += "id: " + QByteArray::number(seq) + "\nevent: STEP_AUDITED\ndata: "
                      + QJsonDocument(unknown).toJson(QJsonDocument::Compact) + "\n\n";
            QJsonObject rawUnknown = SagaJson::rawEventToJson(events[2]);
            rawUnknown.insert(QStringLiteral("id"), seq);
            rawUnknown.insert(QStringLiteral("eventType"), QStringLiteral("STEP_AUDITED"));
            raw.append(rawUnknown);
            listed.lastSeq = seq;
            ++seq;
        }
        e.seq = seq;
        e.position = seq;
        OrderProgress after(id);
        for (int j = 0; j <= i; ++j)
            after.apply(events[j]);
        stream += "id: " + QByteArray::number(seq) + "\nevent: " + toString(e.type).toLatin1() + "\ndata: "
                  + QJsonDocument(SagaJson::statusEventToJson(e, SagaJson::newStatusOf(e, after)))
                        .toJson(QJsonDocument::Compact)
                  + "\n\n";
        raw.append(SagaJson::rawEventToJson(e));
        if (i < 3) {
            QVERIFY(listed.apply(e).ok());
            QVERIFY(paged.apply(e).ok());
        }
    }
    QCOMPARE(listed.lastSeq, qint64(4));
    QCOMPARE(paged.lastSeq, qint64(3));
    if (duringFirstLoad) {
        QJsonObject page = jsonAnswer(200, QJsonObject{{"orders", QJsonArray{SagaJson::orderListItemToJson(paged)}},
                                                       {"count", 1}});
        page.insert(QStringLiteral("fixedDelayMilliseconds"), 1500); // the stream's events come first
        admin.stub("GET", "/api/orders", page);
    } else {
        admin.stub("GET", "/api/orders", emptyOrderList());
    }
    stubListEntry(admin, listed);
    QJsonObject streamed{{"status", 200},
                         {"headers", QJsonObject{{"Content-Type", "text/event-stream"}}},
                         {"body", QString::fromUtf8(stream)}};
    if (duringFirstLoad) {
        // Open while the page is out (WireMock ends a body once sent): the events
        // at once, then a comment sent in pieces over three seconds.
        streamed.insert(QStringLiteral("body"), QString::fromUtf8(stream + ": " + QByteArray(20 * stream.size(), 'x') + "\n\n"));
        streamed.insert(QStringLiteral("chunkedDribbleDelay"), QJsonObject{{"numberOfChunks", 30}, {"totalDuration", 3000}});
    }
    admin.stub("GET", "/api/orders/stream", streamed);
    admin.stub("GET", eventsPath(id), jsonAnswer(200, raw)); // (for the check before each resume)
    // That check reads only the event it looks for, not the new kind beside it.
    QTest::failOnWarning(QRegularExpression(QStringLiteral("could not check the last event shown")));

    ShownOrders shown;
    RemoteSource source(wiremock, QStringLiteral("x.y.z"));
    source.setMaxBackoff(500);
    shown.follow(&source);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(statusName(shown.model, id), QStringLiteral("COMPLETED"), kTimeout);
    QCOMPARE(shown.model.order(id)->lastSeq, qint64(9));
    QCOMPARE(shown.model.order(id)->confirmationNumber, QStringLiteral("CONF-1234"));
    // Resumed after the check (all of it again: it changes nothing).
    QTRY_VERIFY_WITH_TIMEOUT(requestsTo(admin, QStringLiteral("/api/orders/stream"), "9") >= 1, kTimeout);
    QTest::qWait(500);
    QCOMPARE(statusName(shown.model, id), QStringLiteral("COMPLETED"));
    source.stop();
    QVERIFY2(TestServices::resetWireMock(&error), qPrintable(error));
}

// On a resumed stream, an order not seen before must begin with its first event,
// or the stream is another server's and everything is loaded again. A new order
// whose first event could not be read (damaged: SAGA_STARTEX) is read again from
// its list entry instead; its next events are its own, not a stranger's.
void tst_RemoteSource::unreadableFirstEventOfANewOrderIsNoStranger()
{
    QString error;
    const QUrl wiremock = TestServices::freshWireMock(&error);
    QVERIFY2(!wiremock.isEmpty(), qPrintable(error));
    WireMockAdmin admin(wiremock);
    const OrderEvent shown = stubServerShowingOneEvent(admin); // position 5, then the stream ends
    admin.stub("GET", eventsPath(shown.orderId), jsonAnswer(200, QJsonArray{SagaJson::rawEventToJson(shown)}));
    const QUuid id = QUuid::createUuid();
    QVector<OrderEvent> events = SagaScenarios::scenario(SagaScenarios::Kind::InventoryFails, id);
    QByteArray resumed = ": resumed\n\n";
    QJsonArray raw;
    OrderProgress listed(id);
    QVERIFY(listed.apply(events.first()).ok());
    OrderProgress after(id);
    for (OrderEvent &e : events) {
        e.position = 5 + e.seq;
        after.apply(e);
        QJsonObject json = SagaJson::statusEventToJson(e, SagaJson::newStatusOf(e, after));
        if (e.seq == 1)
            json.insert(QStringLiteral("eventType"), QStringLiteral("SAGA_STARTEX"));
        resumed += "id: " + QByteArray::number(e.position) + "\ndata: " + QJsonDocument(json).toJson(QJsonDocument::Compact)
                   + "\n\n";
        raw.append(SagaJson::rawEventToJson(e));
    }
    QCOMPARE(toString(after.overallStatus), QStringLiteral("FAILED"));
    stubResumedStream(admin, QJsonObject{{"status", 200},
                                         {"headers", QJsonObject{{"Content-Type", "text/event-stream"}}},
                                         {"body", QString::fromUtf8(resumed)}});
    stubListEntry(admin, listed);
    admin.stub("GET", eventsPath(id), jsonAnswer(200, raw));

    ShownOrders orders;
    RemoteSource source(wiremock, QStringLiteral("x.y.z"));
    source.setMaxBackoff(500);
    orders.follow(&source);
    QSignalSpy replaced(&source, &ProgressSource::contentsReplaced);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(statusName(orders.model, id), QStringLiteral("FAILED"), kTimeout);
    QCOMPARE(statusName(orders.model, shown.orderId), QStringLiteral("QUEUED")); // still shown beside it
    QCOMPARE(replaced.count(), 0);
    source.stop();
    QVERIFY2(TestServices::resetWireMock(&error), qPrintable(error));
}

// A server that streams an event without end (here WireMock standing in for a
// broken saga-server: 5 MiB on one line) gets its stream dropped and retried;
// the console says why instead of buffering without bound.
void tst_RemoteSource::oversizedStreamEventDropsTheStream()
{
    QString error;
    const QUrl wiremock = TestServices::freshWireMock(&error);
    QVERIFY2(!wiremock.isEmpty(), qPrintable(error));
    WireMockAdmin admin(wiremock);
    admin.stub("GET", "/api/orders", emptyOrderList());
    admin.stub("GET", "/api/orders/stream",
               QJsonObject{{"status", 200},
                           {"headers", QJsonObject{{"Content-Type", "text/event-stream"}}},
                           {"body", QStringLiteral(": hello\n\ndata: ") + QString(5 * 1024 * 1024, QLatin1Char('x'))}});
    RemoteSource source(wiremock, QStringLiteral("x.y.z"));
    source.start();
    QTRY_VERIFY_WITH_TIMEOUT(source.stateMessage().contains(QLatin1String("over 4 MiB")), kTimeout);
    QVERIFY2(source.state() == ProgressSource::State::Stale || source.state() == ProgressSource::State::Reconnecting,
             qPrintable(source.stateMessage()));
    QVERIFY(source.stateMessage().contains(QLatin1String("retrying"), Qt::CaseInsensitive));
    source.stop();
    QVERIFY2(TestServices::resetWireMock(&error), qPrintable(error));
}

// A web server that answers 200 with a page (python3 -m http.server over a
// folder with api/orders/stream): not a saga-server. Never live, said so with
// what it answered, logged once, and asked again with growing backoff (not
// every 500 ms).
void tst_RemoteSource::notAnEventStreamIsNotLive()
{
    CannedHttpServer www("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 18\r\n"
                         "Connection: close\r\n\r\n<html>hello</html>");
    RemoteSource source(www.url(), QStringLiteral("x.y.z"));
    source.setMaxBackoff(4000);
    GuiTest::WarningLog log;
    QSignalSpy states(&source, &ProgressSource::connectionStateChanged);
    QElapsedTimer clock;
    clock.start();
    source.start();
    QTRY_VERIFY_WITH_TIMEOUT(source.reconnectCount() >= 4, kTimeout);
    // 500 + 1000 + 2000 + 4000 ms of backoff before the 4th; without backoff about 2 s.
    QVERIFY2(clock.elapsed() >= 3000, qPrintable(QString::number(clock.elapsed())));
    for (const QList<QVariant> &change : std::as_const(states))
        QVERIFY(change.first().value<ProgressSource::State>() != ProgressSource::State::Live);
    QVERIFY(!source.isInitialLoadDone()); // a page is not an empty order list
    QCOMPARE(source.state(), ProgressSource::State::Reconnecting);
    QVERIFY2(source.stateMessage().contains(QLatin1String("does not look like a saga-server (answered 200 text/html)")),
             qPrintable(source.stateMessage()));
    QCOMPARE(log.count(QStringLiteral("connection lost")), 1);
    source.stop();
}

// A request given up (no answer in time) is said once, without Qt's warnings
// about reading the aborted reply.
void tst_RemoteSource::timedOutRequestIsQuiet()
{
    SagaServerProcess server;
    const QString error = server.start();
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    RemoteSource source(server.url(), QStringLiteral("x.y.z"));
    source.setRequestTimeout(1000);
    GuiTest::WarningLog log;
    server.freeze();
    QString answer;
    bool answered = false;
    source.faultPlan(this, [&](FaultPlan, QString e) {
        answer = e;
        answered = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(answered, kTimeout);
    server.thaw();
    QVERIFY2(answer.contains(QLatin1String("did not answer in time")), qPrintable(answer));
    QCOMPARE(log.count(QStringLiteral("device not open")), 0);
}

// New Order on a server that stops answering (frozen): Place is disabled while
// the order is on its way (a second click sends nothing), and no answer in time
// says the order may have been placed. Once the server goes on, it was: once.
void tst_RemoteSource::orderOnAFrozenServerIsPlacedOnce()
{
    SagaServerProcess server;
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    NewOrderOnServer console(server.url(), token, 2000);
    QTRY_COMPARE_WITH_TIMEOUT(console.source->state(), ProgressSource::State::Live, kTimeout);
    QVERIFY(console.openDialog());
    MainWindow &window = console.window;
    NewOrderDialog *dialog = console.dialog;
    QPushButton *placeButton = console.placeButton;
    QLabel *result = console.result;
    QVERIFY(placeButton->isEnabled());

    server.freeze();
    placeButton->click();
    QVERIFY(!placeButton->isEnabled());
    QVERIFY(dialog->isPlacing());
    placeButton->click(); // impatient: nothing more is sent
    QTRY_VERIFY_WITH_TIMEOUT(!dialog->isPlacing(), kTimeout);
    QVERIFY2(result->text().contains(QLatin1String("may have been placed")), qPrintable(result->text()));
    QVERIFY(placeButton->isEnabled());
    QCOMPARE(window.model()->orderCount(), 0);

    server.thaw();
    // An order placed after the server goes on follows the one sent before.
    RemoteSource placer(server.url(), token);
    const QUuid marker = place(&placer, OrderPresets::make(OrderPreset::OutOfStock), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(*window.model(), marker), QStringLiteral("FAILED"), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(window.model()->orderCount(), 2, kTimeout);
    const QVector<QUuid> placed = ordersBut(*window.model(), marker);
    QCOMPARE(placed.size(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(statusName(*window.model(), placed.at(0)), QStringLiteral("COMPLETED"), kTimeout);
    QCOMPARE(window.model()->orderCount(), 2);
}

// New Order sent to a frozen server gets no answer; Send again (offered then)
// sends it once more with the same Idempotency-Key, and once the server goes on
// there is one order, which the second answer names.
void tst_RemoteSource::unansweredOrderSentAgainIsPlacedOnce()
{
    SagaServerProcess server;
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    NewOrderOnServer console(server.url(), token, 2000);
    QTRY_COMPARE_WITH_TIMEOUT(console.source->state(), ProgressSource::State::Live, kTimeout);
    QVERIFY(console.openDialog());
    MainWindow &window = console.window;
    NewOrderDialog *dialog = console.dialog;
    QPushButton *placeButton = console.placeButton;
    QLabel *result = console.result;
    auto *sendAgain = dialog->findChild<QPushButton *>(QStringLiteral("sendAgain"));
    QVERIFY(sendAgain);
    QVERIFY(!dialog->isSendAgainOffered());

    server.freeze();
    placeButton->click();
    QTRY_VERIFY_WITH_TIMEOUT(!dialog->isPlacing(), kTimeout);
    QVERIFY2(result->text().contains(QLatin1String("may have been placed")), qPrintable(result->text()));
    QVERIFY(dialog->isSendAgainOffered());
    QVERIFY(sendAgain->isEnabled());
    server.thaw();
    sendAgain->click();
    QVERIFY(dialog->isPlacing());
    QTRY_VERIFY_WITH_TIMEOUT(!dialog->isPlacing(), kTimeout);
    // The server takes both sendings as it goes on, either first: the answer says
    // whether this one placed the order or the first had (orderSentAgainAfterItWasPlacedSaysSo).
    const QString said = result->text();
    QVERIFY2(said.endsWith(QLatin1String(" placed."))
                 || said.endsWith(QLatin1String(" had already been placed by your first attempt; no second order was made.")),
             qPrintable(said));
    QVERIFY(!dialog->isSendAgainOffered());

    // An order placed after both follows them: by then both were recorded, or not.
    RemoteSource placer(server.url(), token);
    const QUuid marker = place(&placer, OrderPresets::make(OrderPreset::OutOfStock), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(*window.model(), marker), QStringLiteral("FAILED"), kTimeout);
    const QVector<QUuid> placed = ordersBut(*window.model(), marker);
    QCOMPARE(placed.size(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(statusName(*window.model(), placed.at(0)), QStringLiteral("COMPLETED"), kTimeout);
}

// saga-server answers 503 ORDER_OUTCOME_UNKNOWN when it cannot tell in time whether
// an order was recorded (here: another program holds its SQLite write lock longer
// than --order-answer-timeout). New Order says the order may have been placed and
// offers Send again (it said the order was refused); sent again once the lock is
// gone, there is one order, and the answer says the first sending had placed it.
void tst_RemoteSource::orderWhoseOutcomeIsUnknownIsSentAgainOnce()
{
    SagaServerProcess server;
    server.setExtraArguments({QStringLiteral("--order-answer-timeout"), QStringLiteral("1")});
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    NewOrderOnServer console(server.url(), token);
    QTRY_COMPARE_WITH_TIMEOUT(console.source->state(), ProgressSource::State::Live, kTimeout);
    QVERIFY(console.openDialog());
    auto *sendAgain = console.dialog->findChild<QPushButton *>(QStringLiteral("sendAgain"));
    QVERIFY(sendAgain);

    HeldWriteLock lock(server.database());
    QVERIFY2(lock.error().isEmpty(), qPrintable(lock.error()));
    console.placeButton->click();
    QTRY_VERIFY_WITH_TIMEOUT(!console.dialog->isPlacing(), kTimeout);
    const QString said = console.result->text();
    QVERIFY2(said.contains(QLatin1String("database went away")) && said.contains(QLatin1String("may have been placed")),
             qPrintable(said));
    QVERIFY(console.dialog->isSendAgainOffered());
    lock.release();

    // The first sending was recorded once the lock was gone (the server's commit
    // waits up to 10 s for it): sent again, the answer says so.
    QTRY_VERIFY_WITH_TIMEOUT(sendAgain->isEnabled(), kTimeout);
    sendAgain->click();
    QTRY_VERIFY_WITH_TIMEOUT(!console.dialog->isPlacing(), kTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(console.window.model()->orderCount(), 1, kTimeout);
    const QUuid first = console.window.model()->index(0, 0).data(OrderTreeModel::OrderIdRole).toUuid();
    QTRY_VERIFY_WITH_TIMEOUT(!console.window.model()->order(first)->orderNumber.isEmpty(), kTimeout);
    QCOMPARE(console.result->text(),
             QStringLiteral("Order %1 had already been placed by your first attempt; no second order was made.")
                 .arg(console.window.model()->order(first)->orderNumber));
    // An order placed after both follows them: by then the first was recorded, or not.
    RemoteSource placer(server.url(), token);
    const QUuid marker = place(&placer, OrderPresets::make(OrderPreset::OutOfStock), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(*console.window.model(), marker), QStringLiteral("FAILED"), kTimeout);
    QCOMPARE(ordersBut(*console.window.model(), marker), QVector<QUuid>{first});
}

// The same order sent again with the key of one placed before: saga-server answers
// with that order and Idempotent-Replayed, and the source says it was already
// placed (a first placement does not).
void tst_RemoteSource::sameKeyAgainIsAlreadyPlaced()
{
    SagaServerProcess server;
    QString token;
    const QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    RemoteSource placer(server.url(), token);
    const auto placeAndWait = [&placer](const OrderRequest &request) {
        std::optional<PlaceOrderResult> answer;
        QObject context;
        placer.placeOrder(request, &context, [&answer](PlaceOrderResult r) { answer = r; });
        if (!QTest::qWaitFor([&answer] { return answer.has_value(); }, kTimeout)) {
            PlaceOrderResult none;
            none.error = QStringLiteral("no answer");
            return none;
        }
        return *answer;
    };
    OrderRequest request = OrderPresets::make(OrderPreset::HappyPath);
    const PlaceOrderResult first = placeAndWait(request);
    QVERIFY2(first.ok, qPrintable(first.error));
    QVERIFY(!first.alreadyPlaced);
    QVERIFY(!first.idempotencyKey.isEmpty());

    request.idempotencyKey = first.idempotencyKey;
    const PlaceOrderResult again = placeAndWait(request);
    QVERIFY2(again.ok, qPrintable(again.error));
    QVERIFY(again.alreadyPlaced);
    QCOMPARE(again.orderId, first.orderId);
    QCOMPARE(again.orderNumber, first.orderNumber);
    QCOMPARE(again.idempotencyKey, first.idempotencyKey);
}

// New Order sent to a frozen server gets no answer ("may have been placed"); the
// server goes on and records it. Send again then does not say "placed" as if it
// were new: it says the first attempt had placed the order and no second one was
// made (dialog and status bar), and there is one order.
void tst_RemoteSource::orderSentAgainAfterItWasPlacedSaysSo()
{
    SagaServerProcess server;
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    NewOrderOnServer console(server.url(), token, 2000);
    QTRY_COMPARE_WITH_TIMEOUT(console.source->state(), ProgressSource::State::Live, kTimeout);
    QVERIFY(console.openDialog());
    MainWindow &window = console.window;
    auto *sendAgain = console.dialog->findChild<QPushButton *>(QStringLiteral("sendAgain"));
    QVERIFY(sendAgain);

    server.freeze();
    console.placeButton->click();
    QTRY_VERIFY_WITH_TIMEOUT(!console.dialog->isPlacing(), kTimeout);
    QVERIFY2(console.result->text().contains(QLatin1String("may have been placed")), qPrintable(console.result->text()));
    QVERIFY(console.dialog->isSendAgainOffered());
    server.thaw();
    // The first sending reached the server: its order is shown before Send again.
    QTRY_COMPARE_WITH_TIMEOUT(window.model()->orderCount(), 1, kTimeout);
    const QUuid first = window.model()->index(0, 0).data(OrderTreeModel::OrderIdRole).toUuid();
    QTRY_VERIFY_WITH_TIMEOUT(!window.model()->order(first)->orderNumber.isEmpty(), kTimeout);
    const QString number = window.model()->order(first)->orderNumber;

    sendAgain->click();
    QTRY_VERIFY_WITH_TIMEOUT(!console.dialog->isPlacing(), kTimeout);
    const QString said = console.result->text();
    QCOMPARE(said, QStringLiteral("Order %1 had already been placed by your first attempt; no second order was made.")
                       .arg(number));
    QCOMPARE(window.statusBar()->currentMessage(), said);
    QVERIFY(!console.dialog->isSendAgainOffered());

    RemoteSource placer(server.url(), token);
    const QUuid marker = place(&placer, OrderPresets::make(OrderPreset::OutOfStock), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(*window.model(), marker), QStringLiteral("FAILED"), kTimeout);
    QCOMPARE(ordersBut(*window.model(), marker), QVector<QUuid>{first});
}

// Demo traffic (remote mode) whose order is answered 503 ORDER_OUTCOME_UNKNOWN
// (saga-server's SQLite write lock held past --order-answer-timeout) sends it once
// more at once, with the key of the first sending. The lock is let go as the
// second sending goes out, so the first is recorded: the second finds it. One
// order on the server, started with that key; the demo counts it placed once.
void tst_RemoteSource::demoTrafficSendsAnUnansweredOrderAgainWithItsKey()
{
    SagaServerProcess server;
    server.setExtraArguments({QStringLiteral("--order-answer-timeout"), QStringLiteral("1")});
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    ShownOrders shown;
    OrderTreeModel &model = shown.model;
    WatchedRemoteSource source(server.url(), token);
    shown.follow(&source);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);

    HeldWriteLock lock(server.database());
    QVERIFY2(lock.error().isEmpty(), qPrintable(lock.error()));
    source.onPlace = [&lock](int placements) {
        if (placements == 2)
            lock.release();
    };
    DemoTraffic demo;
    QSignalSpy placed(&demo, &DemoTraffic::orderPlaced);
    QSignalSpy failed(&demo, &DemoTraffic::placeFailed);
    QVERIFY(placed.isValid());
    QVERIFY(failed.isValid());
    demo.setSource(&source);
    demo.setFailurePercent(0);
    demo.setOrdersPerMinute(1); // the one placed at the start, no other for a minute
    demo.setRunning(true);
    QTRY_VERIFY_WITH_TIMEOUT(placed.count() + failed.count() > 0, kTimeout);
    demo.setRunning(false);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().first().toString()));
    QCOMPARE(placed.count(), 1);
    QCOMPARE(demo.placed(), 1);
    QCOMPARE(demo.rejected(), 0);

    // Sent twice: first with a fresh key (no answer), then with that same key.
    QCOMPARE(source.askedKeys.size(), 2);
    QCOMPARE(source.answers.size(), 2);
    QVERIFY(source.askedKeys.at(0).isEmpty());
    QVERIFY(source.answers.at(0).outcomeUnknown);
    const QString key = source.answers.at(0).idempotencyKey;
    QVERIFY(!key.isEmpty());
    QCOMPARE(source.askedKeys.at(1), key);
    QCOMPARE(source.answers.at(1).idempotencyKey, key);
    const QUuid id = placed.first().first().toUuid();
    QCOMPARE(source.answers.at(1).orderId, id);
    QVERIFY(source.answers.at(1).alreadyPlaced);

    // On the server: one order for both sendings, the one started with that key.
    RemoteSource placer(server.url(), token);
    const QUuid marker = place(&placer, OrderPresets::make(OrderPreset::OutOfStock), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(model, marker), QStringLiteral("FAILED"), kTimeout);
    QCOMPARE(ordersBut(model, marker), QVector<QUuid>{id});
    QCOMPARE(startedWithKey(&source, id), key);
}

// A retry sent to a server that stops answering is not "not retried": its
// outcome is unknown, and it did run once the server went on.
void tst_RemoteSource::retryOnAFrozenServerMayHaveStarted()
{
    SagaServerProcess server;
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    RemoteSource placer(server.url(), token);
    const QUuid declined = place(&placer, OrderPresets::make(OrderPreset::DeclinedCard), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    ShownOrders shown;
    OrderTreeModel &model = shown.model;
    RemoteSource source(server.url(), token);
    source.setRequestTimeout(2000);
    shown.follow(&source);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(statusName(model, declined), QStringLiteral("ROLLED_BACK"), kTimeout);
    DetailPanel panel(&model);
    panel.setSource(&source);
    panel.setOrder(declined);
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded(), kTimeout);
    QSignalSpy messages(&panel, &DetailPanel::message);

    server.freeze();
    QVERIFY(retryWithCorrectedPayment(panel));
    QTRY_COMPARE_WITH_TIMEOUT(messages.count(), 1, kTimeout);
    const QString said = messages.at(0).at(0).toString();
    QVERIFY2(said.contains(QLatin1String("may have started")), qPrintable(said));
    QVERIFY2(!said.contains(QLatin1String("was not retried")), qPrintable(said));

    server.thaw();
    QTRY_COMPARE_WITH_TIMEOUT(statusName(model, declined), QStringLiteral("COMPLETED"), kTimeout);
    QCOMPARE(model.order(declined)->attemptNumber, 2);
}

// Placing an order through something that redirects it (a proxy moving http to
// https, a moved server; WireMock stands in): Qt would re-send the POST as a GET
// and take the order list for an answer. The redirect is not followed and the
// console says so; an answer that names no order is not taken as placed either.
void tst_RemoteSource::redirectedOrderIsNotPlacedElsewhere_data()
{
    QTest::addColumn<QJsonObject>("response");
    QTest::addColumn<QString>("says");
    QTest::newRow("301 elsewhere") << QJsonObject{{"status", 301}, {"headers", QJsonObject{{"Location", "/moved/api/orders"}}}}
                                   << QStringLiteral("redirect (HTTP 301) to /moved/api/orders");
    QTest::newRow("200 that names no order")
        << QJsonObject{{"status", 200}, {"headers", QJsonObject{{"Content-Type", "text/html"}}}, {"body", "<html>hi</html>"}}
        << QStringLiteral("does not name a new order");
}

void tst_RemoteSource::redirectedOrderIsNotPlacedElsewhere()
{
    QFETCH(QJsonObject, response);
    QFETCH(QString, says);
    QString error;
    const QUrl wiremock = TestServices::freshWireMock(&error);
    QVERIFY2(!wiremock.isEmpty(), qPrintable(error));
    WireMockAdmin admin(wiremock);
    admin.stub("POST", "/api/orders", response);
    admin.stub("ANY", "/moved/api/orders", emptyOrderList());
    RemoteSource placer(wiremock, QStringLiteral("x.y.z"));
    bool answered = false;
    PlaceOrderResult result;
    QObject context;
    placer.placeOrder(OrderPresets::make(OrderPreset::HappyPath), &context, [&](PlaceOrderResult r) {
        answered = true;
        result = r;
    });
    QTRY_VERIFY_WITH_TIMEOUT(answered, kTimeout);
    QVERIFY(!result.ok);
    QVERIFY2(result.error.contains(says), qPrintable(result.error));
    for (const WireMockAdmin::Seen &seen : admin.journal())
        QVERIFY2(!seen.path.startsWith(QLatin1String("/moved")), qPrintable(seen.method + ' ' + seen.path));
    QVERIFY2(TestServices::resetWireMock(&error), qPrintable(error));
}

// saga-server refuses an order or a retry with 503 and says why: it is shutting
// down, or its database takes no writes (read-only: someone has to make it
// writable). The console said "cannot reach its database ... It recovers on its
// own once the database is back" for every 503, dropping the server's reason.
void tst_RemoteSource::unavailableServerSaysWhy_data()
{
    QTest::addColumn<bool>("retry");
    QTest::addColumn<QJsonObject>("answer");
    QTest::addColumn<QString>("says");
    const QString shuttingDown = QStringLiteral("The server is shutting down. Send the order again in a moment.");
    const QString readOnly = QStringLiteral("The database takes no writes (it is read-only); sagas are paused and will "
                                            "resume once it takes writes again. Nothing was recorded; send it again later.");
    QTest::newRow("order, shutting down")
        << false << QJsonObject{{"error", "SHUTTING_DOWN"}, {"message", shuttingDown}} << shuttingDown;
    QTest::newRow("order, read-only database")
        << false
        << QJsonObject{{"error", "SERVICE_UNAVAILABLE"}, {"message", readOnly}, {"details", QJsonObject{{"cause", "READ_ONLY"}}}}
        << readOnly;
    QTest::newRow("retry, read-only database")
        << true
        << QJsonObject{{"error", "SERVICE_UNAVAILABLE"}, {"message", readOnly}, {"details", QJsonObject{{"cause", "READ_ONLY"}}}}
        << readOnly;
}

void tst_RemoteSource::unavailableServerSaysWhy()
{
    QFETCH(bool, retry);
    QFETCH(QJsonObject, answer);
    QFETCH(QString, says);
    QString error;
    const QUrl wiremock = TestServices::freshWireMock(&error);
    QVERIFY2(!wiremock.isEmpty(), qPrintable(error));
    WireMockAdmin admin(wiremock);
    const QUuid orderId = QUuid::createUuid();
    const QString path = retry ? QStringLiteral("/api/orders/%1/retry").arg(orderId.toString(QUuid::WithoutBraces))
                               : QStringLiteral("/api/orders");
    admin.stub("POST", path, jsonAnswer(503, answer));
    RemoteSource source(wiremock, QStringLiteral("x.y.z"));
    QObject context;
    bool answered = false;
    QString said;
    if (retry) {
        RetryRequest request;
        request.orderId = orderId;
        source.retry(request, &context, [&](RetryDecision d) {
            answered = true;
            QVERIFY(d.code != RetryDecision::Accepted);
            QVERIFY(!d.outcomeUnknown);
            said = d.reason;
        });
    } else {
        source.placeOrder(OrderPresets::make(OrderPreset::HappyPath), &context, [&](PlaceOrderResult r) {
            answered = true;
            QVERIFY(!r.ok);
            QVERIFY(!r.outcomeUnknown);
            said = r.error;
        });
    }
    QTRY_VERIFY_WITH_TIMEOUT(answered, kTimeout);
    QVERIFY2(said.contains(says), qPrintable(said));
    QVERIFY2(!said.contains(QLatin1String("cannot reach its database")), qPrintable(said));
    QVERIFY2(!said.contains(QLatin1String("recovers on its own")), qPrintable(said));
    QVERIFY2(TestServices::resetWireMock(&error), qPrintable(error));
}

// "N s" in a sentence of the console, or -1.
int secondsIn(const QString &text)
{
    static const QRegularExpression seconds(QStringLiteral("try again in (\\d+) s"));
    const QRegularExpressionMatch m = seconds.match(text);
    return m.hasMatch() ? m.captured(1).toInt() : -1;
}

// New Order on a server that limits this token (429): the dialog says the
// server is limiting new orders and when to try again — not a generic failure,
// not "may have been placed" — and no order was made.
void tst_RemoteSource::limitedOrderSaysWhenToTryAgain()
{
    SagaServerProcess server;
    server.setExtraArguments({QStringLiteral("--rate-limit"), QStringLiteral("0.05:1")}); // one per 20 s
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    NewOrderOnServer console(server.url(), token);
    QTRY_COMPARE_WITH_TIMEOUT(console.source->state(), ProgressSource::State::Live, kTimeout);
    QVERIFY(console.openDialog());
    MainWindow &window = console.window;
    NewOrderDialog *dialog = console.dialog;
    QPushButton *placeButton = console.placeButton;
    QLabel *result = console.result;

    placeButton->click();
    QTRY_VERIFY_WITH_TIMEOUT(!dialog->isPlacing(), kTimeout);
    QVERIFY2(result->text().contains(QLatin1String("placed")), qPrintable(result->text()));
    QTRY_COMPARE_WITH_TIMEOUT(window.model()->orderCount(), 1, kTimeout);

    placeButton->click();
    QTRY_VERIFY_WITH_TIMEOUT(!dialog->isPlacing(), kTimeout);
    const QString said = result->text();
    QVERIFY2(said.startsWith(QLatin1String("The server is limiting new orders; try again in ")), qPrintable(said));
    QVERIFY2(secondsIn(said) >= 1 && secondsIn(said) <= 20, qPrintable(said));
    QVERIFY2(!said.contains(QLatin1String("may have been placed")), qPrintable(said));
    QVERIFY(placeButton->isEnabled());

    // Nothing was placed: an order of another client (not limited) is the next one shown.
    RemoteSource placer(server.url(), server.mintToken(true, &error));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QUuid marker = place(&placer, OrderPresets::make(OrderPreset::OutOfStock), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(statusName(*window.model(), marker), QStringLiteral("FAILED"), kTimeout);
    QCOMPARE(window.model()->orderCount(), 2);
}

// Retry on a server that limits this token: "was not retried", saying the
// server is limiting retries and when to try again; the order was not retried.
void tst_RemoteSource::limitedRetrySaysWhenToTryAgain()
{
    SagaServerProcess server;
    server.setExtraArguments({QStringLiteral("--rate-limit"), QStringLiteral("0.05:1")});
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    RemoteSource placer(server.url(), server.mintToken(true, &error)); // another client
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QUuid declined = place(&placer, OrderPresets::make(OrderPreset::DeclinedCard), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    ShownOrders shown;
    OrderTreeModel &model = shown.model;
    RemoteSource source(server.url(), token);
    shown.follow(&source);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(statusName(model, declined), QStringLiteral("ROLLED_BACK"), kTimeout);
    place(&source, OrderPresets::make(OrderPreset::HappyPath), &error); // this token's one request
    QVERIFY2(error.isEmpty(), qPrintable(error));
    DetailPanel panel(&model);
    panel.setSource(&source);
    panel.setOrder(declined);
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(panel.isCaseLoaded(), kTimeout);
    QSignalSpy messages(&panel, &DetailPanel::message);

    QVERIFY(retryWithCorrectedPayment(panel));
    QTRY_COMPARE_WITH_TIMEOUT(messages.count(), 1, kTimeout);
    const QString said = messages.at(0).at(0).toString();
    QVERIFY2(said.contains(QLatin1String("was not retried: The server is limiting retries and new orders; try again in ")),
             qPrintable(said));
    QVERIFY2(secondsIn(said) >= 1 && secondsIn(said) <= 20, qPrintable(said));
    QCOMPARE(endedAttempts(&source, declined), 1);
    QTRY_VERIFY_WITH_TIMEOUT(panel.retryButton()->isEnabled(), kTimeout); // it may be tried again later
}

// Demo traffic faster than the server allows pauses for the Retry-After of the
// first refusal instead of sending on, and goes on by itself afterwards.
void tst_RemoteSource::demoTrafficPausesForRetryAfter()
{
    SagaServerProcess server;
    server.setExtraArguments({QStringLiteral("--rate-limit"), QStringLiteral("0.05:2")});
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    RemoteSource source(server.url(), token);
    source.start();
    QTRY_COMPARE_WITH_TIMEOUT(source.state(), ProgressSource::State::Live, kTimeout);
    DemoTraffic demo;
    QSignalSpy paused(&demo, &DemoTraffic::paused);
    QSignalSpy failed(&demo, &DemoTraffic::placeFailed);
    demo.setSource(&source);
    demo.setOrdersPerMinute(6000);
    demo.setRunning(true);
    QTRY_VERIFY_WITH_TIMEOUT(!paused.isEmpty(), kTimeout);
    const int seconds = paused.first().first().toInt();
    QVERIFY2(seconds >= 1 && seconds <= 20, qPrintable(QString::number(seconds)));
    QVERIFY(demo.isRunning());
    QVERIFY(demo.isPaused());
    QTRY_COMPARE_WITH_TIMEOUT(demo.placed(), 2, kTimeout); // the burst; the rest were refused, then none sent
    QVERIFY2(failed.first().first().toString().startsWith(QLatin1String("The server is limiting new orders")),
             qPrintable(failed.first().first().toString()));
    demo.setRunning(false);
    QVERIFY(!demo.isPaused());
}

// More event streams than the server allows one token (another console holds
// the one): the source says so and asks again after the server's Retry-After,
// not after its own short backoff; once the other stream closes it goes live.
void tst_RemoteSource::limitedStreamWaitsForRetryAfter()
{
    SagaServerProcess server;
    server.setExtraArguments({QStringLiteral("--max-streams"), QStringLiteral("1")});
    QString token;
    QString error = server.startWithSupportToken(&token);
    if (!error.isEmpty())
        QFAIL(qPrintable(error));
    RemoteSource first(server.url(), token);
    first.start();
    QTRY_COMPARE_WITH_TIMEOUT(first.state(), ProgressSource::State::Live, kTimeout);

    RemoteSource second(server.url(), token);
    second.start();
    QTRY_VERIFY_WITH_TIMEOUT(second.stateMessage().contains(QLatin1String("is limiting the event streams of this token")),
                             kTimeout);
    QVERIFY2(second.stateMessage().contains(QLatin1String("next try is in 5 s")), qPrintable(second.stateMessage()));
    QVERIFY(second.state() != ProgressSource::State::Live);
    QVERIFY2(second.reconnectDelayMs() >= 5000, qPrintable(QString::number(second.reconnectDelayMs())));

    first.stop();
    QTRY_COMPARE_WITH_TIMEOUT(second.state(), ProgressSource::State::Live, kTimeout);
}

QTEST_MAIN(tst_RemoteSource)
#include "tst_remotesource.moc"
