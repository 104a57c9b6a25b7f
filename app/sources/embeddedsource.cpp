#include "embeddedsource.h"

#include "enginehost.h"
#include "eventfeed.h"
#include "sagajson.h"
#include "sagalog.h"
#include "storejobs.h"
#include "storereader.h"

#include <QDir>
#include <QTimer>

EmbeddedSource::EmbeddedSource(const EngineConfig &config, QObject *parent)
    : ProgressSource(parent)
    , m_config(config)
{
    m_engine = new EngineHost(m_config, this);
    m_reader = new StoreReader(m_config.database,
                               QStringLiteral("saga-console-embedded-%1").arg(quintptr(this), 0, 16),
                               this);
    connect(m_engine, &EngineHost::started, this, &EmbeddedSource::onEngineStarted);
    connect(m_engine, &EngineHost::startFailed, this, [this](const QString &reason) {
        if (!m_running)
            return;
        setState(State::Failed,
                 tr("The embedded engine could not start. %1 You can choose another database in File > Connect.")
                     .arg(reason));
    });
    connect(m_engine, &EngineHost::eventsCommitted, this, &EmbeddedSource::onEngineEvents);
    connect(m_engine, &EngineHost::databaseAvailabilityChanged, this,
            [this](bool available, const QString &reason) {
                if (!m_running)
                    return;
                if (available)
                    setState(State::Live, liveMessage());
                else
                    // The engine's reason is a whole sentence ("The database is unavailable; ...").
                    setState(State::Stale,
                             tr("%1 What you see may be out of date until then.")
                                 .arg(reason.isEmpty() ? tr("The database is unavailable; the engine keeps trying.")
                                                       : reason));
            });
    connect(m_reader, &StoreReader::opened, this, &EmbeddedSource::onReaderOpened);
}

EmbeddedSource::~EmbeddedSource()
{
    m_running = false;
}

QString EmbeddedSource::kindName() const
{
    return tr("Embedded");
}

QString EmbeddedSource::location() const
{
    return m_config.database.isPostgres() ? m_config.database.toString()
                                          : QDir::toNativeSeparators(m_config.database.path);
}

ProgressSource::Capabilities EmbeddedSource::capabilities() const
{
    return PlaceOrders | Retry | (m_config.stepsBaseUrl.isEmpty() ? InjectFaults : NoCapability);
}

QString EmbeddedSource::liveMessage() const
{
    return tr("Embedded engine running on %1.").arg(location());
}

void EmbeddedSource::start()
{
    if (m_running)
        return;
    m_running = true;
    m_loading = true;
    setState(State::Connecting, tr("Starting the embedded engine on %1…").arg(location()));
    m_engine->start();
}

void EmbeddedSource::stop()
{
    m_running = false;
    m_feed.reset();
    m_heldBack.clear();
    m_engine->disconnect(this);
    m_reader->disconnect(this);
}

void EmbeddedSource::onEngineStarted()
{
    if (!m_running)
        return;
    // The engine has migrated the database: now a second connection may read it.
    m_reader->start();
}

void EmbeddedSource::onReaderOpened(const StoreError &error)
{
    if (!m_running)
        return;
    if (error) {
        setState(State::Failed, tr("The orders in %1 could not be read (%2). The engine runs, but "
                                   "existing orders are not shown; restart the console to try again.")
                                    .arg(location(), error.message));
        return;
    }
    m_reader->run(
        StoreJobs::loadAllInto(m_reader, QPointer<EmbeddedSource>(this)),
        this,
                  [this](StoreJobs::InitialLoad load) {
                      if (!m_running)
                          return;
                      if (load.error) {
                          qCWarning(lcSources).noquote() << "initial load failed:" << load.error.message;
                          setState(State::Stale,
                                   tr("Existing orders could not be read (%1); new ones are shown as "
                                      "they happen.")
                                       .arg(load.error.message));
                      } else {
                          if (!load.snapshots.isEmpty())
                              Q_EMIT snapshotsReady(load.snapshots);
                      }
                      m_loading = false;
                      if (!m_heldBack.isEmpty())
                          Q_EMIT eventsReady(std::exchange(m_heldBack, {}));
                      if (!load.error) {
                          followOtherPrograms(load.lastPosition);
                          setState(State::Live, liveMessage());
                      }
                      if (!load.stepDurations.isEmpty())
                          Q_EMIT stepHistoryReady(load.stepDurations);
                      setInitialLoadDone(load.count);
                  });
}

// Other engines on the same file or database (consoles, saga-servers) drive
// orders too, and take over this one's when it stops: their events come from the
// event feed (PostgreSQL: LISTEN/NOTIFY; SQLite: the file polled).
// This engine's own events arrive twice; the fold ignores the second time.
void EmbeddedSource::followOtherPrograms(qint64 afterPosition)
{
    m_feed = std::make_unique<EventFeed>(m_config.database);
    connect(m_feed.get(), &EventFeed::eventsArrived, this, [this](const QVector<OrderEvent> &events) {
        if (m_running)
            Q_EMIT eventsReady(events);
    });
    m_feed->start(afterPosition);
}

void EmbeddedSource::onEngineEvents(const QVector<OrderEvent> &events)
{
    if (!m_running)
        return;
    if (m_loading) {
        m_heldBack += events;
        return;
    }
    Q_EMIT eventsReady(events);
}

void EmbeddedSource::placeOrder(const OrderRequest &request, QObject *context,
                                std::function<void(PlaceOrderResult)> done)
{
    // saga-server's rules for a POST body, so the embedded engine never records an
    // order the server would refuse.
    const Parsed<OrderRequest> checked = SagaJson::checkOrderRequest(request);
    if (!checked.ok()) {
        PlaceOrderResult r;
        r.error = tr("The order was not accepted: %1 %2. Correct it and place the order again.")
                      .arg(checked.field, checked.error);
        QTimer::singleShot(0, context ? context : this, [done = std::move(done), r] { done(r); });
        return;
    }
    OrderRequest traced = request;
    if (traced.traceId.isEmpty()) // what a traceparent header would carry from a remote caller
        traced.traceId = QString::fromLatin1(QUuid::createUuid().toRfc4122().toHex());
    m_engine->submitOrder(traced, context, [done = std::move(done)](SubmitResult submitted) {
        PlaceOrderResult r;
        r.ok = submitted.error.ok();
        r.orderId = submitted.orderId;
        r.orderNumber = submitted.orderNumber;
        if (submitted.error.kind == StoreError::Invalid)
            r.error = tr("The order was not accepted: %1. Correct the fields and place it again.")
                          .arg(submitted.error.message);
        else if (submitted.error)
            r.error = tr("The database is unavailable, so the order was not placed. Try again in a "
                         "moment.");
        done(r);
    });
}

void EmbeddedSource::retryEligibility(const QUuid &orderId, QObject *context,
                                      std::function<void(RetryEligibility, QString)> done)
{
    m_engine->retryEligibility(orderId, context,
                               [done = std::move(done)](RetryEligibility e, StoreError error) {
                                   done(e, error ? tr("Retry eligibility could not be read: %1")
                                                       .arg(error.message)
                                                 : QString());
                               });
}

void EmbeddedSource::retry(const RetryRequest &request, QObject *context,
                           std::function<void(RetryDecision)> done)
{
    m_engine->retryOrder(request, context, std::move(done));
}

void EmbeddedSource::faultPlan(QObject *context, std::function<void(FaultPlan, QString)> done)
{
    post(context, [done = std::move(done), plan = m_engine->faultPlan()] { done(plan, {}); });
}

void EmbeddedSource::setFaultPlan(const FaultPlan &plan, QObject *context,
                                  std::function<void(QString)> done)
{
    // Refused as saga-server refuses it (400 naming the field): the engine's own codes.
    QString field;
    QString problem;
    if (!plan.checkCodes(&field, &problem)) {
        post(context, [done = std::move(done), text = field + QStringLiteral(": ") + problem] { done(text); });
        return;
    }
    m_engine->setFaultPlan(plan);
    qCInfo(lcSources) << "fault plan applied to the embedded engine";
    post(context, [done = std::move(done)] { done({}); });
}

void EmbeddedSource::loadCase(const QUuid &orderId, QObject *context,
                              std::function<void(OrderCase, QString)> done)
{
    m_reader->run([orderId](SagaStore &store) { return StoreJobs::loadCase(store, orderId); },
                  context, [done = std::move(done)](StoreJobs::CaseResult r) {
                      done(r.orderCase, r.error);
                  });
}
