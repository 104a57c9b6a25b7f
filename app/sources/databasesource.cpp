#include "databasesource.h"

#include "sagalog.h"
#include "sagastore.h"
#include "storejobs.h"
#include "storereader.h"

namespace {
const QString kChannel = QStringLiteral("saga_events");
constexpr int kCatchUpPage = 5000;
constexpr int kFirstBackoffMs = 500;
constexpr int kMaxBackoffMs = 5000;

// The connection itself is gone (or, SQLite, the file): not a read the database refused.
bool connectionGone(const StoreError &error)
{
    return error.kind == StoreError::Unavailable
        && (error.outage == StoreError::Outage::Unreachable || error.outage == StoreError::Outage::FileGone);
}

// A read failed on a connection that is still there: the tables may be gone or
// changed, or this role's rights taken. The reader's schema check names that in
// words for people when it finds it; else the read's own error stands (a statement
// timeout, say). In the reader's thread.
StoreError explained(SagaStore &store, const StoreError &error)
{
    if (!error || connectionGone(error) || !store.isOpen())
        return error;
    const StoreError schema = store.checkSchema();
    return schema && schema.kind != StoreError::Unavailable ? schema : error;
}

struct Loaded {
    StoreJobs::InitialLoad load;
    StoreJobs::EventMark seen; // of the event at load.lastPosition
};

struct CaughtUp {
    StoreJobs::EventsAfter events;
    bool replaced = false; // the event seen last is not at its position any more
};

struct Health {
    qint64 position = 0;
    bool replaced = false;
    StoreError error;
};
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
    m_answerTimer.setSingleShot(true);
    connect(&m_answerTimer, &QTimer::timeout, this, &DatabaseSource::answerOverdue);
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

void DatabaseSource::setAnswerTimeout(int ms)
{
    m_answerTimeoutMs = qMax(100, ms);
}

void DatabaseSource::setBusy(bool busy)
{
    m_busy = busy;
    if (busy)
        m_answerTimer.start(m_answerTimeoutMs);
    else
        m_answerTimer.stop();
}

// A read is out and has not answered: the server (or its connection) is frozen
// or very slow. What is shown may be old, and the user is told so; the answer,
// when it comes, carries on as usual (no second connection is opened meanwhile).
void DatabaseSource::answerOverdue()
{
    if (!m_running || !m_busy || !m_loaded)
        return;
    m_overdue = true;
    m_outage = true;
    const QString seconds = QString::number(m_answerTimeoutMs / 1000.0, 'g', 3);
    logConnectionLost(tr("no answer for %1 s").arg(seconds));
    setState(State::Stale, tr("%1 has not answered for %2 s; showing what it said last and still waiting.")
                               .arg(location(), seconds));
}

QString DatabaseSource::problemSentence(const StoreError &error) const
{
    const QString why = error.reason().trimmed();
    if (connectionGone(error))
        return unreachableSentence(why);
    if (error.sqlState == "42501") { // insufficient privilege
        const QString grant = m_url.user.isEmpty()
            ? QString()
            : tr(" (GRANT SELECT ON ALL TABLES IN SCHEMA public TO %1)").arg(m_url.user);
        return tr("Cannot read the database at %1: %2. The console's role needs SELECT on every Saga Console "
                  "table%3; the console keeps trying.")
            .arg(location(), why, grant);
    }
    if (error.kind == StoreError::Unavailable) // busy: a statement timeout, too many connections, a conflict
        return tr("Reading the database at %1 failed (%2); the console keeps trying.").arg(location(), why);
    // What the database holds cannot be shown: no or other tables (SagaStore::checkSchema), another refusal.
    return tr("Cannot show the database at %1: %2. The console keeps trying.").arg(location(), why);
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
    setBusy(true);
    m_reader->start();
}

void DatabaseSource::stop()
{
    m_running = false;
    m_healthTimer.stop();
    m_answerTimer.stop();
}

void DatabaseSource::onOpened(const StoreError &error)
{
    if (!m_running)
        return;
    setBusy(false);
    if (error) {
        connectionLost(error);
        return;
    }
    m_connected = true;
    checkIdentity();
}

void DatabaseSource::checkIdentity()
{
    setBusy(true);
    m_reader->run(
        [](SagaStore &store) {
            StoreError error;
            QString identity = store.databaseIdentity(&error);
            return std::make_pair(std::move(identity), explained(store, error));
        },
        this, [this](const std::pair<QString, StoreError> &answer) {
            setBusy(false);
            if (!m_running)
                return;
            if (answer.second) {
                connectionLost(answer.second);
                return;
            }
            if (m_loaded && answer.first != m_identity)
                reloadBecause(anotherDatabaseSentence());
            m_identity = answer.first;
            // Subscribe (again), then load or catch up (onListening).
            if (m_url.isPostgres())
                m_reader->listen(kChannel);
            else
                onListening(true, {});
        });
}

QString DatabaseSource::anotherDatabaseSentence() const
{
    return tr("%1 is another database than before (it was dropped and created again, restored or replaced): "
              "showing what it holds now.")
        .arg(location());
}

void DatabaseSource::reloadBecause(const QString &why)
{
    m_loaded = false;
    m_lastPosition = 0;
    m_seen = {};
    m_catchUpPending = false;
    replaceContents(why);
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
    setBusy(true); // (no overdue warning before the first load is done: it may be large)
    m_reader->run(
        [loadAll = StoreJobs::loadAllInto(m_reader, QPointer<DatabaseSource>(this))](SagaStore &store) {
            Loaded r{loadAll(store), {}};
            if (!r.load.error) {
                StoreResult<StoreJobs::EventMark> seen = StoreJobs::markAt(store, r.load.lastPosition);
                r.seen = seen.value;
                r.load.error = seen.error;
            }
            r.load.error = explained(store, r.load.error);
            return r;
        },
        this,
                  [this](Loaded loaded) {
                      setBusy(false);
                      if (!m_running)
                          return;
                      StoreJobs::InitialLoad &load = loaded.load;
                      if (load.error) {
                          connectionLost(load.error);
                          return;
                      }
                      m_loaded = true;
                      readSucceeded();
                      m_lastPosition = load.lastPosition;
                      m_seen = loaded.seen;
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
    setBusy(true);
    m_catchUpPending = false;
    const qint64 after = m_lastPosition;
    m_reader->run([after, seen = m_seen](SagaStore &store) {
                      // From where the shown history ends, if the database still holds it there.
                      CaughtUp r;
                      const StoreResult<bool> same = StoreJobs::stillThere(store, seen);
                      if (!same.ok())
                          r.events.error = explained(store, same.error);
                      else if (!same.value)
                          r.replaced = true;
                      else {
                          r.events = StoreJobs::eventsAfter(store, after, kCatchUpPage);
                          r.events.error = explained(store, r.events.error);
                      }
                      return r;
                  },
                  this, [this](CaughtUp caught) {
                      setBusy(false);
                      if (!m_running)
                          return;
                      StoreJobs::EventsAfter &result = caught.events;
                      if (result.error) {
                          connectionLost(result.error);
                          return;
                      }
                      if (caught.replaced) {
                          reloadBecause(anotherDatabaseSentence());
                          loadAll();
                          return;
                      }
                      // Only events after our position were asked for; drop any a
                      // concurrent answer may already have covered.
                      QVector<OrderEvent> fresh;
                      fresh.reserve(result.events.size());
                      for (OrderEvent &e : result.events) {
                          if (e.position > m_lastPosition) {
                              m_lastPosition = e.position;
                              m_seen = StoreJobs::EventMark::of(e);
                              fresh.append(std::move(e));
                          }
                      }
                      if (!fresh.isEmpty())
                          Q_EMIT eventsReady(fresh);
                      readSucceeded();
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
    setBusy(true);
    m_reader->run(
        [seen = m_seen](SagaStore &store) {
            Health h;
            h.position = store.lastPosition(&h.error);
            if (!h.error) {
                const StoreResult<bool> same = StoreJobs::stillThere(store, seen);
                h.error = same.error;
                h.replaced = same.ok() && !same.value;
            }
            h.error = explained(store, h.error);
            return h;
        },
        this, [this](const Health &h) {
            setBusy(false);
            if (!m_running)
                return;
            if (h.error) {
                connectionLost(h.error);
                return;
            }
            const qint64 position = h.position;
            if (position < m_lastPosition) {
                // Positions only grow in one database: this is another one (restored
                // from an older backup, or replaced with the same identity).
                reloadBecause(tr("The event positions of %1 went back (%2, after %3): the database was replaced "
                                 "or restored; showing what it holds now.")
                                  .arg(location())
                                  .arg(position)
                                  .arg(m_lastPosition));
                loadAll();
                return;
            }
            if (h.replaced) { // positions moved on, but past other events than those shown
                reloadBecause(anotherDatabaseSentence());
                loadAll();
                return;
            }
            if (position > m_lastPosition || m_catchUpPending || m_overdue)
                requestCatchUp(); // a notification was missed (or there are none: SQLite)
            else
                m_healthTimer.start(m_healthIntervalMs);
        });
}

void DatabaseSource::connectionLost(const StoreError &error)
{
    if (!m_running)
        return;
    m_connected = false;
    m_outage = true;
    // Once while the reason stays the same (in people's words: the log line keeps what
    // was being done and the driver's text); a retry that reconnects is no new outage.
    QString why = error.reason().trimmed();
    if (why.isEmpty())
        why = QStringLiteral("(no reason given)");
    if (connectionGone(error))
        logOutage(QStringLiteral("%1 connection lost: %2").arg(kindName(), error.message), why);
    else
        logOutage(QStringLiteral("%1 cannot be read: %2").arg(kindName(), error.message), why);
    // The same state and sentence for every retry of one outage: the banner keeps
    // saying why, instead of flickering to "Reconnecting…" at each attempt.
    setState(m_loaded ? State::Stale : State::Reconnecting, problemSentence(error));
    m_healthTimer.start(m_backoffMs);
    m_backoffMs = qMin(m_backoffMs * 2, kMaxBackoffMs);
}

void DatabaseSource::readSucceeded()
{
    m_backoffMs = kFirstBackoffMs;
    m_overdue = false;
    if (m_outage)
        qCInfo(lcSources).noquote() << "reading" << location() << "again";
    m_outage = false;
    logConnectionBack();
}

void DatabaseSource::reconnect()
{
    if (m_busy) {
        m_healthTimer.start(m_backoffMs);
        return;
    }
    ++m_reconnects;
    setBusy(true);
    // (A SQLite file put in place of the one read is followed: checkIdentity() tells.)
    m_reader->run([](SagaStore &store) {
                      return store.isOpen() ? store.reconnect(SagaStore::Reopen::FileAtPath) : store.open();
                  },
                  this, [this](const StoreError &error) {
                      setBusy(false);
                      if (!m_running)
                          return;
                      if (error) {
                          connectionLost(error);
                          return;
                      }
                      // Not back yet: the outage (and the backoff) lasts until a load or
                      // catch-up succeeds, whose reads may fail where this did not.
                      qCDebug(lcSources).noquote() << "connected again to" << location();
                      m_connected = true;
                      checkIdentity(); // then subscribe again and catch up
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
