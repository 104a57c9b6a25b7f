#include "serverruntime.h"

#include "enginehost.h"
#include "sagalog.h"
#include "sagaserver.h"

#include <QTimer>

#include <memory>
#include <utility>

namespace {
// After the shutdown grace, how long the engine may still take to stop before the
// server stops without it.
constexpr int kStopMarginMs = 10000;
} // namespace

ServerRuntime::ServerRuntime(const ServerConfig &config, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_engine(std::make_unique<EngineHost>(config.engine))
    , m_server(std::make_unique<SagaServer>(config, m_engine.get()))
{
    connect(m_engine.get(), &EngineHost::started, this, [this] {
        if (m_stopping) {
            // Asked to stop (SIGTERM) while the engine was starting: no listener
            // and no "listening on" for a server that is already on its way out.
            qCInfo(lcServer) << "the engine started after the shutdown began: not listening";
            return;
        }
        QString error;
        const quint16 port = m_server->start(&error);
        if (port == 0) {
            qCCritical(lcServer).noquote() << error;
            Q_EMIT failed(error);
            return;
        }
        qCInfo(lcServer).noquote() << "listening on" << m_config.listenHost << port << "database"
                                   << m_config.engine.database.toString();
        Q_EMIT ready(port);
    });
    connect(m_engine.get(), &EngineHost::startFailed, this, [this](const QString &reason) {
        qCCritical(lcServer).noquote() << "the engine did not start:" << reason;
        Q_EMIT failed(reason);
    });
}

ServerRuntime::~ServerRuntime()
{
    m_server.reset(); // before the engine it listens to
    m_engine.reset();
}

void ServerRuntime::start()
{
    // The port first: a saga-server started while another holds its port (a restart
    // before the old one exited) used to start its engine all the same, upgrading the
    // schema under the running one and taking over sagas whose lease ran out, only to
    // find the port taken and exit.
    QString error;
    if (!m_server->listen(&error)) {
        qCCritical(lcServer).noquote() << error;
        // Queued: main() runs its event loop only once start() has returned.
        QMetaObject::invokeMethod(this, [this, error] { Q_EMIT failed(error); }, Qt::QueuedConnection);
        return;
    }
    m_engine->start();
}

quint16 ServerRuntime::port() const
{
    return m_server->port();
}

void ServerRuntime::shutdown()
{
    if (m_stopping)
        return;
    m_stopping = true;
    qCInfo(lcServer) << "shutting down: no new sagas, closing streams, letting in-flight sagas finish";
    m_server->beginShutdown();
    auto reported = std::make_shared<bool>(false);
    m_engine->shutdown(m_config.shutdownGraceMs, [this, reported] {
        if (std::exchange(*reported, true))
            return;
        qCInfo(lcServer) << "engine stopped";
        Q_EMIT stopped();
    });
    // The engine's thread may wait in a query its database never answers (a frozen
    // server keeps the connection, so no timeout ends it): the grace and a margin
    // later the server stops anyway (~EngineHost leaves that thread; nothing
    // uncommitted is on record, and the sagas are resumed once their leases run out).
    QTimer::singleShot(m_config.shutdownGraceMs + kStopMarginMs, this, [this, reported] {
        if (std::exchange(*reported, true))
            return;
        qCWarning(lcServer) << "the engine has not stopped" << (m_config.shutdownGraceMs + kStopMarginMs) / 1000
                            << "s after SIGTERM (its database does not answer); stopping without it";
        Q_EMIT stopped();
    });
}
