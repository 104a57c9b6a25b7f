#pragma once

// One interface for every place the console can read sagas from (ARCHITECTURE.md,
// "Sources, one interface"): the embedded engine, a saga-server over REST + SSE,
// or a PostgreSQL database read directly. All three feed the same OrderTreeModel.
//
// A source lives in the GUI thread and never blocks it: SQL runs in the source's
// own worker thread, HTTP through QNetworkAccessManager. Every request is
// asynchronous; its answer is delivered to `done` in the thread of `context`, and
// dropped when `context` was destroyed first (the EngineHost convention).

#include "faultplan.h"
#include "orderevent.h"
#include "orderhistory.h"
#include "orderprogress.h"
#include "orderrecord.h"

#include <QJsonArray>
#include <QObject>
#include <QPointer>
#include <functional>
#include <optional>

// Answer to placing an order.
struct PlaceOrderResult {
    bool ok = false;
    QUuid orderId;
    QString orderNumber;
    QString error; // a sentence for the user when !ok
    // Sent, but no answer came (a timeout, the connection lost): the order may
    // have been placed all the same; the error says so.
    bool outcomeUnknown = false;
    // Refused for the server's rate limit (429): nothing was placed; try again
    // after this many seconds (0 otherwise). The error says so.
    int retryAfterSeconds = 0;
    // The Idempotency-Key it was sent with (remote mode): placing the same request
    // again with this key (OrderRequest::idempotencyKey) cannot place it twice.
    QString idempotencyKey;
    // ok, but this request placed nothing: an earlier one with the same key (the
    // first sending, whose answer never came) had already placed the order named
    // (saga-server's `Idempotent-Replayed: true`). Remote mode only.
    bool alreadyPlaced = false;
};

// Everything a support ticket needs about one order: the customer-facing
// history and the raw events (GET /api/orders/{id}/events shape).
struct OrderCase {
    QUuid orderId;
    OrderHistory history;
    QJsonArray rawEvents;
    std::optional<OrderRecord> record; // the order as stored (payment method, address); absent if unreadable
};

class ProgressSource : public QObject
{
    Q_OBJECT
public:
    enum class State {
        Connecting,   // first load in progress
        Live,         // events arrive as they are committed
        Stale,        // the connection was lost: what is shown may be out of date
        Reconnecting, // trying to get the connection back
        Failed,       // gave up; the message says what the user can do
    };
    Q_ENUM(State)

    enum Capability {
        NoCapability = 0,
        PlaceOrders = 1 << 0,
        InjectFaults = 1 << 1,
        Retry = 1 << 2,
    };
    Q_DECLARE_FLAGS(Capabilities, Capability)

    explicit ProgressSource(QObject *parent = nullptr);
    ~ProgressSource() override;

    // "Embedded", "Remote", "Database".
    virtual QString kindName() const = 0;
    // Where the data comes from, for the status bar: a file, a URL (never a password or token).
    virtual QString location() const = 0;
    virtual Capabilities capabilities() const = 0;
    bool canPlaceOrders() const { return capabilities().testFlag(PlaceOrders); }
    bool canInjectFaults() const { return capabilities().testFlag(InjectFaults); }
    bool canRetry() const { return capabilities().testFlag(Retry); }

    // Starts loading: snapshotsReady (in chunks) for what exists, then eventsReady
    // for everything committed afterwards. stop() ends all activity; no signal
    // is emitted after it returns.
    virtual void start() = 0;
    virtual void stop() = 0;

    State state() const { return m_state; }
    QString stateMessage() const { return m_stateMessage; }
    bool isInitialLoadDone() const { return m_initialLoadDone; }

    // Requests. The default implementations answer "not supported by this source".
    virtual void placeOrder(const OrderRequest &request, QObject *context,
                            std::function<void(PlaceOrderResult)> done);
    virtual void retryEligibility(const QUuid &orderId, QObject *context,
                                  std::function<void(RetryEligibility, QString error)> done);
    virtual void retry(const RetryRequest &request, QObject *context,
                       std::function<void(RetryDecision)> done);
    virtual void faultPlan(QObject *context, std::function<void(FaultPlan, QString error)> done);
    virtual void setFaultPlan(const FaultPlan &plan, QObject *context,
                              std::function<void(QString error)> done);
    virtual void loadCase(const QUuid &orderId, QObject *context,
                          std::function<void(OrderCase, QString error)> done) = 0;

    static QString stateName(State state); // "connecting", "live", "stale", ...

Q_SIGNALS:
    // Snapshots of existing orders (a chunk at a time during the first load).
    void snapshotsReady(const QVector<OrderProgress> &snapshots);
    // Committed events in commit order; may contain events the model already has
    // (the fold ignores duplicate seq).
    void eventsReady(const QVector<OrderEvent> &events);
    // Durations (ms) of recently finished steps from stored history, newest first,
    // to seed the ETA estimator; emitted once by sources that read a store, just
    // before initialLoadFinished.
    void stepHistoryReady(const QVector<QPair<SagaStep, qint64>> &durations);
    // The first load finished: `orders` snapshots were delivered.
    void initialLoadFinished(int orders);
    void connectionStateChanged(ProgressSource::State state, const QString &message);
    // Everything delivered so far is void: the database or server behind the source
    // was replaced (its event positions went back, it is another database, a
    // saga-server came back on another database). The
    // receiver drops every order; the new contents follow as in a first load
    // (snapshotsReady, then initialLoadFinished, then eventsReady). `why` is a sentence.
    void contentsReplaced(const QString &why);

protected:
    // Emits contentsReplaced(why) and logs it once; the first load counts as not done.
    void replaceContents(const QString &why);
    void setState(State state, const QString &message);
    void setInitialLoadDone(int orders);
    // Why the connection was lost goes to the log once per outage (a warning), and
    // again only when the reason changes; retries that meet the same reason log at
    // debug level, so a server that stays away for an hour does not fill the log.
    void logConnectionLost(const QString &reason);
    // The same for any line: logged as a warning unless `sameAs` is what the last
    // one of this outage was logged for.
    void logOutage(const QString &line, const QString &sameAs);
    // Connected again: the next loss is a new outage.
    void logConnectionBack();

    // Runs `f` later in the thread of `context`, unless `context` is gone by then.
    template<typename F>
    static void post(QObject *context, F &&f)
    {
        if (context)
            QMetaObject::invokeMethod(context, std::forward<F>(f), Qt::QueuedConnection);
    }
    static QString unsupported(const QString &what);

private:
    State m_state = State::Connecting;
    QString m_stateMessage;
    bool m_initialLoadDone = false;
    QString m_outageReason; // empty while connected
};

Q_DECLARE_OPERATORS_FOR_FLAGS(ProgressSource::Capabilities)
