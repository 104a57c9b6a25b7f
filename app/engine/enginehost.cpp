#include "enginehost.h"

#include "faultinjector.h"
#include "orchestrator.h"
#include "sagalog.h"
#include "threadexit.h"

#include <QMetaObject>
#include <QPointer>

#include <utility>

namespace {

// How long stopping the engine may take before its thread is left to end in the
// background: committing what is decided and releasing the leases take well
// under a second when the database answers.
constexpr int kStopWaitMs = 5000;

// Runs `fn` in `context`'s thread, unless `context` is gone by then.
template<typename Fn>
void postTo(const QPointer<QObject> &context, Fn fn)
{
    if (!context)
        return;
    QMetaObject::invokeMethod(
        context.data(),
        [context, fn = std::move(fn)]() mutable {
            if (context)
                fn();
        },
        Qt::QueuedConnection);
}

} // namespace

EngineHost::EngineHost(const EngineConfig &config, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_faults(std::make_shared<FaultInjector>())
{
    qRegisterMetaType<OrderEvent>();
    qRegisterMetaType<QVector<OrderEvent>>();
}

EngineHost::~EngineHost()
{
    stopThread();
}

bool EngineHost::isRunning() const
{
    return m_running;
}

void EngineHost::start()
{
    if (m_orchestrator)
        return;
    auto orchestrator = std::make_unique<Orchestrator>(m_config, m_faults);
    m_thread = new QThread;
    m_thread->setObjectName(QStringLiteral("saga-engine"));
    orchestrator->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, orchestrator.get(), &QObject::deleteLater);
    connect(orchestrator.get(), &Orchestrator::eventsCommitted, this, &EngineHost::eventsCommitted);
    connect(orchestrator.get(), &Orchestrator::databaseAvailabilityChanged, this,
            &EngineHost::databaseAvailabilityChanged);
    m_orchestrator = orchestrator.release(); // owned by the thread (finished -> deleteLater)
    m_thread->start();
    QPointer<EngineHost> self(this);
    Orchestrator *orch = m_orchestrator;
    QMetaObject::invokeMethod(
        orch,
        [orch, self] {
            QString error;
            const bool ok = orch->initialize(&error);
            postTo(QPointer<QObject>(self.data()), [self, ok, error] {
                self->m_running = ok;
                if (ok)
                    Q_EMIT self->started();
                else
                    Q_EMIT self->startFailed(error);
            });
        },
        Qt::QueuedConnection);
}

void EngineHost::shutdown(int graceMs, std::function<void()> done)
{
    if (!m_orchestrator || m_stopping) {
        if (done)
            QMetaObject::invokeMethod(this, [done] { done(); }, Qt::QueuedConnection);
        return;
    }
    m_stopping = true;
    QPointer<EngineHost> self(this);
    Orchestrator *orch = m_orchestrator;
    QMetaObject::invokeMethod(
        orch,
        [orch, self, graceMs, done] {
            orch->shutdown(graceMs, [self, done] {
                postTo(QPointer<QObject>(self.data()), [self, done] {
                    self->stopThread();
                    if (done)
                        done();
                });
            });
        },
        Qt::QueuedConnection);
}

void EngineHost::stopThread()
{
    m_running = false;
    QThread *thread = std::exchange(m_thread, nullptr);
    if (!thread)
        return;
    if (m_orchestrator && thread->isRunning()) {
        // Commits what is decided, releases the leases, stops the committers; then
        // the thread ends (and deletes the orchestrator).
        Orchestrator *orch = m_orchestrator;
        QMetaObject::invokeMethod(
            orch,
            [orch] {
                orch->stop();
                QThread::currentThread()->quit();
            },
            Qt::QueuedConnection);
    } else {
        thread->quit();
    }
    m_orchestrator = nullptr; // deleted by finished -> deleteLater
    if (!ThreadExit::waitOrLeave(thread, kStopWaitMs)) {
        qCWarning(lcEngine).noquote()
            << QStringLiteral("the database has not answered the stopping engine for %1 s; it is left to stop in the "
                              "background: what it did not commit is not on record, and its sagas are resumed "
                              "once their leases run out (%2 s)")
                   .arg(kStopWaitMs / 1000)
                   .arg(m_config.leaseSeconds);
    }
}

void EngineHost::submitOrder(const OrderRequest &request, QObject *context, std::function<void(SubmitResult)> done)
{
    QPointer<QObject> ctx(context);
    if (!m_orchestrator || m_stopping) {
        SubmitResult r;
        r.error = StoreError{StoreError::Unavailable, QStringLiteral("The engine is not running.")};
        postTo(ctx, [done, r] { done(r); });
        return;
    }
    Orchestrator *orch = m_orchestrator;
    QMetaObject::invokeMethod(
        orch,
        [orch, request, ctx, done] {
            orch->submit(request, [ctx, done](SubmitResult r) { postTo(ctx, [done, r] { done(r); }); });
        },
        Qt::QueuedConnection);
}

void EngineHost::retryEligibility(const QUuid &orderId, QObject *context,
                                  std::function<void(RetryEligibility, StoreError)> done)
{
    QPointer<QObject> ctx(context);
    if (!m_orchestrator || m_stopping) {
        postTo(ctx, [done] {
            done({}, StoreError{StoreError::Unavailable, QStringLiteral("The engine is not running.")});
        });
        return;
    }
    Orchestrator *orch = m_orchestrator;
    QMetaObject::invokeMethod(
        orch,
        [orch, orderId, ctx, done] {
            orch->eligibility(orderId, [ctx, done](RetryEligibility e, StoreError err) {
                postTo(ctx, [done, e, err] { done(e, err); });
            });
        },
        Qt::QueuedConnection);
}

void EngineHost::retryOrder(const RetryRequest &request, QObject *context, std::function<void(RetryDecision)> done)
{
    QPointer<QObject> ctx(context);
    if (!m_orchestrator || m_stopping) {
        RetryDecision d;
        d.code = RetryDecision::Unavailable;
        d.reason = QStringLiteral("The engine is not running.");
        postTo(ctx, [done, d] { done(d); });
        return;
    }
    Orchestrator *orch = m_orchestrator;
    QMetaObject::invokeMethod(
        orch,
        [orch, request, ctx, done] {
            orch->retry(request, [ctx, done](RetryDecision d) { postTo(ctx, [done, d] { done(d); }); });
        },
        Qt::QueuedConnection);
}

void EngineHost::setFaultPlan(const FaultPlan &plan)
{
    m_faults->setPlan(plan);
}

FaultPlan EngineHost::faultPlan() const
{
    return m_faults->plan();
}
