#include "progresssource.h"

#include "sagalog.h"

ProgressSource::ProgressSource(QObject *parent)
    : QObject(parent)
{
}

ProgressSource::~ProgressSource() = default;

QString ProgressSource::stateName(State state)
{
    switch (state) {
    case State::Connecting:
        return QStringLiteral("connecting");
    case State::Live:
        return QStringLiteral("live");
    case State::Stale:
        return QStringLiteral("stale");
    case State::Reconnecting:
        return QStringLiteral("reconnecting");
    case State::Failed:
        return QStringLiteral("failed");
    }
    return {};
}

void ProgressSource::setState(State state, const QString &message)
{
    if (m_state == state && m_stateMessage == message)
        return;
    m_state = state;
    m_stateMessage = message;
    qCInfo(lcSources).noquote() << kindName() << stateName(state) << message;
    Q_EMIT connectionStateChanged(state, message);
}

void ProgressSource::logConnectionLost(const QString &reason)
{
    const QString why = reason.trimmed().isEmpty() ? QStringLiteral("(no reason given)") : reason.trimmed();
    logOutage(kindName() + QStringLiteral(" connection lost: ") + why, why);
}

void ProgressSource::logOutage(const QString &line, const QString &sameAs)
{
    if (sameAs == m_outageReason) {
        qCDebug(lcSources).noquote() << kindName() << "still unavailable:" << line;
        return;
    }
    qCWarning(lcSources).noquote() << line;
    m_outageReason = sameAs;
}

void ProgressSource::logConnectionBack()
{
    m_outageReason.clear();
}

void ProgressSource::replaceContents(const QString &why)
{
    qCWarning(lcSources).noquote() << why;
    m_initialLoadDone = false;
    Q_EMIT contentsReplaced(why);
}

void ProgressSource::setInitialLoadDone(int orders)
{
    m_initialLoadDone = true;
    Q_EMIT initialLoadFinished(orders);
}

QString ProgressSource::unsupported(const QString &what)
{
    return tr("%1 is not possible with this source. Connect to the embedded engine or a "
              "saga-server to do it (File > Connect).")
        .arg(what);
}

void ProgressSource::placeOrder(const OrderRequest &, QObject *context,
                                std::function<void(PlaceOrderResult)> done)
{
    post(context, [done] {
        PlaceOrderResult r;
        r.error = unsupported(tr("Placing orders"));
        done(r);
    });
}

void ProgressSource::retryEligibility(const QUuid &, QObject *context,
                                      std::function<void(RetryEligibility, QString)> done)
{
    post(context, [done] {
        RetryEligibility e;
        e.reason = unsupported(tr("Retrying orders"));
        done(e, e.reason);
    });
}

void ProgressSource::retry(const RetryRequest &, QObject *context,
                           std::function<void(RetryDecision)> done)
{
    post(context, [done] {
        RetryDecision d;
        d.code = RetryDecision::Unavailable;
        d.reason = unsupported(tr("Retrying orders"));
        done(d);
    });
}

void ProgressSource::faultPlan(QObject *context, std::function<void(FaultPlan, QString)> done)
{
    post(context, [done] { done(FaultPlan{}, unsupported(tr("Injecting failures"))); });
}

void ProgressSource::setFaultPlan(const FaultPlan &, QObject *context,
                                  std::function<void(QString)> done)
{
    post(context, [done] { done(unsupported(tr("Injecting failures"))); });
}
