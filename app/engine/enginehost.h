#pragma once

// The engine as seen from another thread: EngineHost lives in the caller's
// thread and owns a QThread running the Orchestrator (a parentless QObject moved
// to that thread). Every call is asynchronous: requests go in through queued
// invocations, answers come back through the callback, invoked in the thread of
// `context` (and dropped if `context` was destroyed).

#include "engineconfig.h"
#include "faultplan.h"
#include "orderevent.h"
#include "orderrecord.h"
#include "storeerror.h"

#include <QObject>
#include <QPointer>
#include <QThread>
#include <functional>

#include <memory>

class FaultInjector;
class Orchestrator;

struct SubmitResult {
    StoreError error; // Unavailable when the database is down; Invalid for a bad request
    QUuid orderId;
    QString orderNumber;
    // An order with an Idempotency-Key (OrderRequest::idempotencyKey) whose key was
    // used before by the same customer: `replayed` when for the same request (the
    // answer names that order; nothing new was placed), `keyReused` when for another
    // one (orderId names it; nothing was placed).
    bool replayed = false;
    bool keyReused = false;
};

class EngineHost : public QObject
{
    Q_OBJECT
public:
    explicit EngineHost(const EngineConfig &config, QObject *parent = nullptr);
    // Stops the engine and its thread. A database that does not answer (a frozen
    // server) could keep that from ending: after a few seconds the thread is left
    // to end in the background (ThreadExit); the sagas it drove are resumed once
    // their leases run out.
    ~EngineHost() override;

    // Starts the thread, opens the store there, migrates and resumes unfinished
    // sagas. Emits started() or startFailed().
    void start();
    // Graceful stop: no new sagas; in-flight ones finish or release their leases
    // within `graceMs`; then `done` runs in this object's thread.
    void shutdown(int graceMs, std::function<void()> done);

    void submitOrder(const OrderRequest &request, QObject *context,
                     std::function<void(SubmitResult)> done);
    void retryEligibility(const QUuid &orderId, QObject *context,
                          std::function<void(RetryEligibility, StoreError)> done);
    void retryOrder(const RetryRequest &request, QObject *context,
                    std::function<void(RetryDecision)> done);

    // Fault plan of the simulated steps (thread-safe; takes effect for the next step call).
    void setFaultPlan(const FaultPlan &plan);
    FaultPlan faultPlan() const;

    const EngineConfig &config() const { return m_config; }
    bool isRunning() const;

Q_SIGNALS:
    void started();
    void startFailed(const QString &reason);
    // Committed events in commit order (queued into this object's thread).
    void eventsCommitted(const QVector<OrderEvent> &events);
    // The database went away (available=false, reason said once, again when the
    // kind of outage changes) or came back.
    void databaseAvailabilityChanged(bool available, const QString &reason, StoreError::Outage outage);

private:
    EngineConfig m_config;
    QThread *m_thread = nullptr; // parentless; deleted by stopThread(), or once it has ended when left running
    Orchestrator *m_orchestrator = nullptr; // lives in m_thread; deleted via finished->deleteLater
    std::shared_ptr<FaultInjector> m_faults; // shared with the simulated step client
    bool m_running = false;
    bool m_stopping = false;

    void stopThread();
};
