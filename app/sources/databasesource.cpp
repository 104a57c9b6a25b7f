#include "databasesource.h"

#include "sagalog.h"
#include "sagastore.h"
#include "storejobs.h"
#include "storereader.h"

namespace {
const QString kChannel = QStringLiteral("saga_events");
constexpr int kCatchUpPage = 5000;
constexpr int kMaxBackoffMs = 5000;
} // namespace

DatabaseSource::DatabaseSource(const DatabaseUrl &url, QObject *parent)
    : ProgressSource(parent)
    , m_url(url)
{
    m_reader = new StoreReader(url, QStringLiteral("saga-console-db-%1").arg(quintptr(this), 0, 16),
                               this);
    connect(m_reader, &StoreReader::opened, this, &DatabaseSource::onOpened);
    connect(m_reader, &StoreReader::listening, this, &DatabaseSource::onListening);
    connect(m_reader, &StoreReader::notified, this, [this](const QString &, const QString &payload) {
        if (!m_running)
            return;
        ++m_notifications;
        qCDebug(lcSources).noquote() << "NOTIFY" << payload;
        requestCatchUp();
    });
    m_healthTimer.setSingleShot(true);
    connect(&m_healthTimer, &QTimer::timeout, this, &DatabaseSource::healthCheck);
}

DatabaseSource::~DatabaseSource()
{
    m_running = false;
}

QString DatabaseSource::kindName() const
{
    return tr("Database");
}

QString DatabaseSource::location() const
{
    return m_url.toString();
}

ProgressSource::Capabilities DatabaseSource::capabilities() const
{
    return NoCapability; // reads only; placing, retrying and faults go through an engine
}

void DatabaseSource::setHealthCheckInterval(int ms)
{
    m_healthIntervalMs = qMax(50, ms);
}

QString DatabaseSource::unreachableSentence(const QString &reason) const
{
    if (!m_url.isPostgres())
        return tr("Cannot read the database at %1 (%2). Check the file's path; the console keeps trying.")
            .arg(location(), reason.trimmed());
    return tr("Cannot read the database at %1 (%2). Check that PostgreSQL runs, the URL is right "
              "and the user may log in; the console keeps trying.")
        .arg(location(), reason.trimmed());
}

void DatabaseSource::start()
{
    if (m_running)
        return;
    m_running = true;
    setState(State::Connecting, tr("Connecting to %1…").arg(location()));
    m_busy = true;
    m_reader->start();
}

void DatabaseSource::stop()
{
    m_running = false;
    m_healthTimer.stop();
}

void DatabaseSource::onOpened(bool ok, const QString &error)
{
    if (!m_running)
        return;
    m_busy = false;
    if (!ok) {
        connectionLost(error);
        return;
    }
    m_connected = true;
    if (m_url.isPostgres())
        m_reader->listen(kChannel);
    else
        onListening(true, {});
}

void DatabaseSource::onListening(bool ok, const QString &error)
{
    if (!m_running)
        return;
    if (!ok) // still readable: the health check polls instead
        qCWarning(lcSources).noquote() << "no notifications from" << location() << ":" << error;
    if (!m_loaded)
        loadAll();
    else
        requestCatchUp(); // after a reconnect: whatever happened meanwhile
}

void DatabaseSource::loadAll()
{
    m_busy = true;
    m_reader->run(
        StoreJobs::loadAllInto(m_reader, QPointer<DatabaseSource>(this)),
        this,
                  [this](StoreJobs::InitialLoad load) {
                      m_busy = false;
                      if (!m_running)
                          return;
                      if (!load.error.isEmpty()) {
                          connectionLost(load.error);
                          return;
                      }
                      m_loaded = true;
                      m_lastPosition = load.lastPosition;
                      if (!load.snapshots.isEmpty())
                          Q_EMIT snapshotsReady(load.snapshots);
                      setState(State::Live, tr("Live from %1.").arg(location()));
                      if (!load.stepDurations.isEmpty())
                          Q_EMIT stepHistoryReady(load.stepDurations);
                      setInitialLoadDone(load.count);
                      requestCatchUp();
                  });
}

void DatabaseSource::requestCatchUp()
{
    if (!m_loaded || !m_connected)
        return;
    if (m_busy) {
        m_catchUpPending = true;
        return;
    }
    m_busy = true;
    m_catchUpPending = false;
    const qint64 after = m_lastPosition;
    m_reader->run([after](SagaStore &store) { return StoreJobs::eventsAfter(store, after, kCatchUpPage); },
                  this, [this](StoreJobs::EventsAfter result) {
                      m_busy = false;
                      if (!m_running)
                          return;
                      if (!result.error.isEmpty()) {
                          connectionLost(result.error);
                          return;
                      }
                      // Only events after our position were asked for; drop any a
                      // concurrent answer may already have covered.
                      QVector<OrderEvent> fresh;
                      fresh.reserve(result.events.size());
                      for (OrderEvent &e : result.events) {
                          if (e.position > m_lastPosition) {
                              m_lastPosition = e.position;
                              fresh.append(std::move(e));
                          }
                      }
                      if (!fresh.isEmpty())
                          Q_EMIT eventsReady(fresh);
                      if (state() != State::Live)
                          setState(State::Live, tr("Live from %1.").arg(location()));
                      if (result.more || m_catchUpPending)
                          requestCatchUp();
                      else if (!m_healthTimer.isActive())
                          m_healthTimer.start(m_healthIntervalMs);
                  });
}

void DatabaseSource::healthCheck()
{
    if (!m_running)
        return;
    if (!m_connected) {
        reconnect();
        return;
    }
    if (m_busy) {
        m_healthTimer.start(m_healthIntervalMs);
        return;
    }
    m_busy = true;
    m_reader->run(
        [](SagaStore &store) {
            StoreError error;
            const qint64 position = store.lastPosition(&error);
            return std::make_pair(position, error);
        },
        this, [this](std::pair<qint64, StoreError> answer) {
            m_busy = false;
            if (!m_running)
                return;
            if (answer.second) {
                connectionLost(answer.second.message);
                return;
            }
            if (answer.first > m_lastPosition || m_catchUpPending)
                requestCatchUp(); // a notification was missed (or there are none: SQLite)
            else
                m_healthTimer.start(m_healthIntervalMs);
        });
}

void DatabaseSource::connectionLost(const QString &reason)
{
    if (!m_running)
        return;
    m_connected = false;
    logConnectionLost(reason);
    // The same state and sentence for every retry of one outage: the banner keeps
    // saying why, instead of flickering to "Reconnecting…" at each attempt.
    setState(m_loaded ? State::Stale : State::Reconnecting, unreachableSentence(reason));
    m_healthTimer.start(m_backoffMs);
    m_backoffMs = qMin(m_backoffMs * 2, kMaxBackoffMs);
}

void DatabaseSource::reconnect()
{
    if (m_busy) {
        m_healthTimer.start(m_backoffMs);
        return;
    }
    ++m_reconnects;
    m_busy = true;
    m_reader->run([](SagaStore &store) { return store.isOpen() ? store.reconnect() : store.open(); },
                  this, [this](StoreError error) {
                      m_busy = false;
                      if (!m_running)
                          return;
                      if (error) {
                          connectionLost(error.message);
                          return;
                      }
                      qCInfo(lcSources).noquote() << "reconnected to" << location();
                      logConnectionBack();
                      m_connected = true;
                      m_backoffMs = 500;
                      // Subscribe again, then catch up (onListening).
                      if (m_url.isPostgres())
                          m_reader->listen(kChannel);
                      else
                          onListening(true, {});
                  });
}

void DatabaseSource::loadCase(const QUuid &orderId, QObject *context,
                              std::function<void(OrderCase, QString)> done)
{
    m_reader->run([orderId](SagaStore &store) { return StoreJobs::loadCase(store, orderId); },
                  context, [done = std::move(done)](StoreJobs::CaseResult r) {
                      done(r.orderCase, r.error);
                  });
}
