#include "failureinjectionpanel.h"

#include "progresssource.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QGridLayout>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace {
// `f` as the panel's rows show it (and plan() reads it back): only the fields
// of its kind, the chance in whole percent.
StepFault shownForm(const StepFault &f)
{
    StepFault shown;
    shown.kind = f.kind;
    if (f.kind == StepFault::Kind::None)
        return shown;
    if (f.kind == StepFault::Kind::Fail)
        shown.errorCode = f.errorCode.trimmed();
    if (f.kind == StepFault::Kind::Delay)
        shown.delayMs = qBound(0, f.delayMs, 120000);
    shown.probability = double(qRound(qBound(0.0, f.probability, 1.0) * 100.0)) / 100.0;
    shown.once = f.once;
    return shown;
}

constexpr StepFault::Kind kKinds[] = {StepFault::Kind::None, StepFault::Kind::Fail, StepFault::Kind::Delay,
                                      StepFault::Kind::Timeout, StepFault::Kind::FailCompensation};
} // namespace

FailureInjectionPanel::FailureInjectionPanel(QWidget *parent)
    : QWidget(parent)
{
    auto *layout = new QVBoxLayout(this);
    auto *intro = new QLabel(tr("Make the simulated steps misbehave and watch the saga compensate."), this);
    intro->setWordWrap(true);
    layout->addWidget(intro);

    auto *grid = new QGridLayout;
    grid->addWidget(new QLabel(tr("<b>Step</b>"), this), 0, 0);
    grid->addWidget(new QLabel(tr("<b>Fault</b>"), this), 0, 1);
    grid->addWidget(new QLabel(tr("<b>Error code</b>"), this), 0, 2);
    grid->addWidget(new QLabel(tr("<b>Delay</b>"), this), 0, 3);
    grid->addWidget(new QLabel(tr("<b>Chance</b>"), this), 0, 4);
    grid->addWidget(new QLabel(tr("<b>Once</b>"), this), 0, 5);
    for (SagaStep step : kAllSteps) {
        const int r = int(step) + 1;
        Row &row = m_rows[size_t(step)];
        row.kind = new QComboBox(this);
        row.kind->addItem(tr("None"), int(StepFault::Kind::None));
        row.kind->addItem(tr("Fail with code"), int(StepFault::Kind::Fail));
        row.kind->addItem(tr("Delay"), int(StepFault::Kind::Delay));
        row.kind->addItem(tr("Time out"), int(StepFault::Kind::Timeout));
        row.kind->addItem(tr("Fail compensation"), int(StepFault::Kind::FailCompensation));
        row.code = new QComboBox(this);
        row.code->setEditable(true);
        row.code->addItems(suggestedFaultCodes(step)); // the engine's own codes are refused
        row.delay = new QSpinBox(this);
        row.delay->setRange(0, 120000);
        row.delay->setSingleStep(250);
        row.delay->setValue(2000);
        row.delay->setSuffix(tr(" ms"));
        row.probability = new QDoubleSpinBox(this);
        row.probability->setRange(0, 100);
        row.probability->setDecimals(0);
        row.probability->setValue(100);
        row.probability->setSuffix(tr(" %"));
        row.once = new QCheckBox(this);
        row.once->setChecked(true);
        row.once->setToolTip(tr("Disarm after it fired once"));
        grid->addWidget(new QLabel(stepDisplayName(step), this), r, 0);
        grid->addWidget(row.kind, r, 1);
        grid->addWidget(row.code, r, 2);
        grid->addWidget(row.delay, r, 3);
        grid->addWidget(row.probability, r, 4);
        grid->addWidget(row.once, r, 5, Qt::AlignCenter);
        connect(row.kind, &QComboBox::currentIndexChanged, this, [this, step] { updateRow(step); });
        connect(row.kind, &QComboBox::currentIndexChanged, this, &FailureInjectionPanel::updatePending);
        connect(row.code, &QComboBox::currentTextChanged, this, &FailureInjectionPanel::updatePending);
        connect(row.delay, &QSpinBox::valueChanged, this, &FailureInjectionPanel::updatePending);
        connect(row.probability, &QDoubleSpinBox::valueChanged, this, &FailureInjectionPanel::updatePending);
        connect(row.once, &QCheckBox::toggled, this, &FailureInjectionPanel::updatePending);
        updateRow(step);
    }
    grid->setColumnStretch(2, 1);
    layout->addLayout(grid);

    auto *buttons = new QHBoxLayout;
    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    m_clear = new QPushButton(tr("C&lear all"), this);
    m_revert = new QPushButton(tr("Rever&t"), this); // (Alt+R is the detail panel's Retry…)
    m_revert->setObjectName(QStringLiteral("revertFaultPlan"));
    m_revert->setToolTip(tr("Show the applied fault plan again, dropping the edits not applied"));
    m_apply = new QPushButton(tr("&Apply"), this);
    m_apply->setToolTip(tr("Send the fault plan to the engine or server"));
    m_apply->setDefault(true);
    connect(m_apply, &QPushButton::clicked, this, &FailureInjectionPanel::apply);
    connect(m_revert, &QPushButton::clicked, this, &FailureInjectionPanel::revert);
    connect(m_clear, &QPushButton::clicked, this, &FailureInjectionPanel::clearAll);
    buttons->addWidget(m_status, 1);
    buttons->addWidget(m_clear);
    buttons->addWidget(m_revert);
    buttons->addWidget(m_apply);
    layout->addLayout(buttons);
    layout->addStretch(1);
    m_reloadTimer.setSingleShot(true);
    m_reloadTimer.setInterval(kReloadMs);
    connect(&m_reloadTimer, &QTimer::timeout, this, &FailureInjectionPanel::reloadFromSource);
    m_knownShown = plan();
    setSource(nullptr);
}

void FailureInjectionPanel::updateRow(SagaStep step)
{
    Row &row = m_rows[size_t(step)];
    const auto kind = StepFault::Kind(row.kind->currentData().toInt());
    row.code->setEnabled(kind == StepFault::Kind::Fail);
    row.delay->setEnabled(kind == StepFault::Kind::Delay);
    row.probability->setEnabled(kind != StepFault::Kind::None);
    row.once->setEnabled(kind != StepFault::Kind::None);
}

void FailureInjectionPanel::setSource(ProgressSource *source)
{
    disconnect(m_eventsConnection);
    disconnect(m_stateConnection);
    m_reloadTimer.stop();
    m_source = source;
    m_known = FaultPlan{};
    m_knownShown = plan();
    m_applying = false;
    if (source) {
        m_eventsConnection = connect(source, &ProgressSource::eventsReady, this, &FailureInjectionPanel::sagasProgressed);
        // Read again whenever the source is live again: the plan could not be read
        // while it was away (the rows showed no fault next to the error, also once
        // live), and a saga-server that restarted meanwhile runs with another plan.
        m_stateConnection = connect(source, &ProgressSource::connectionStateChanged, this,
                                    [this](ProgressSource::State state) {
                                        if (state == ProgressSource::State::Live)
                                            reloadFromSource();
                                    });
    }
    const bool can = source && source->canInjectFaults();
    for (QWidget *w : findChildren<QWidget *>(Qt::FindDirectChildrenOnly)) {
        if (w != m_status)
            w->setEnabled(can);
    }
    if (can) {
        for (SagaStep step : kAllSteps)
            updateRow(step);
        setStatus({}, false);
        reloadFromSource();
    } else {
        setStatus(source ? tr("%1 sources cannot inject failures: connect to the embedded engine or a "
                              "saga-server with a SUPPORT token.")
                               .arg(source->kindName())
                         : QString(),
                  false);
    }
    updatePending();
}

FaultPlan FailureInjectionPanel::plan() const
{
    FaultPlan plan;
    for (SagaStep step : kAllSteps) {
        const Row &row = m_rows[size_t(step)];
        StepFault &f = plan[step];
        f.kind = StepFault::Kind(row.kind->currentData().toInt());
        if (f.kind == StepFault::Kind::None)
            continue;
        if (f.kind == StepFault::Kind::Fail)
            f.errorCode = row.code->currentText().trimmed();
        if (f.kind == StepFault::Kind::Delay)
            f.delayMs = row.delay->value();
        f.probability = row.probability->value() / 100.0;
        f.once = row.once->isChecked();
    }
    return plan;
}

void FailureInjectionPanel::setPlan(const FaultPlan &plan)
{
    for (SagaStep step : kAllSteps)
        setRow(step, plan[step]);
}

void FailureInjectionPanel::setRow(SagaStep step, const StepFault &f)
{
    const Row &row = m_rows[size_t(step)];
    for (int i = 0; i < int(std::size(kKinds)); ++i) {
        if (kKinds[i] == f.kind)
            row.kind->setCurrentIndex(i);
    }
    if (!f.errorCode.isEmpty())
        row.code->setCurrentText(f.errorCode);
    if (f.delayMs > 0)
        row.delay->setValue(f.delayMs);
    row.probability->setValue(f.probability * 100.0);
    row.once->setChecked(f.once);
    updateRow(step);
}

QString FailureInjectionPanel::statusText() const
{
    return m_status->text();
}

bool FailureInjectionPanel::hasUnappliedChanges() const
{
    return m_source && m_source->canInjectFaults() && !(plan() == m_knownShown);
}

void FailureInjectionPanel::setStatus(const QString &text, bool error)
{
    m_readFailed = false;
    m_statusText = text;
    m_statusError = error;
    updatePending();
}

void FailureInjectionPanel::updatePending()
{
    if (!m_apply) // (rows being built)
        return;
    const bool pending = hasUnappliedChanges() && !m_applying;
    m_apply->setEnabled(pending);
    m_revert->setEnabled(pending);
    QString text = m_statusText;
    if (pending) {
        // The rows no longer show what the engine runs with: never let them pass
        // for the armed plan (orders complete while a "fault" is on screen).
        const QString note = tr("Changes not applied yet — press Apply to send them, or Revert.");
        text = text.isEmpty() ? note : text + QLatin1Char(' ') + note;
    }
    m_status->setText(text);
    m_status->setStyleSheet(m_statusError ? QStringLiteral("color: #C5221F;")
                            : pending     ? QStringLiteral("color: #B06000; font-weight: bold;")
                                          : QString());
}

void FailureInjectionPanel::apply()
{
    if (!m_source)
        return;
    const FaultPlan p = plan();
    ++m_applies;
    m_applying = true;
    setStatus(tr("Applying…"), false);
    m_source->setFaultPlan(p, this, [this, p](QString error) {
        m_applying = false;
        if (!error.isEmpty()) {
            setStatus(error, true);
            Q_EMIT message(error);
            return;
        }
        const QString text = p.isEmpty() ? tr("No failures injected.")
                                         : tr("Fault plan applied; the next orders will hit it.");
        m_known = p;
        m_knownShown = p; // (rows edited meanwhile stay pending)
        setStatus(text, false);
        Q_EMIT message(text);
        Q_EMIT applied(p);
    });
}

void FailureInjectionPanel::clearAll()
{
    setPlan(FaultPlan{});
    apply();
}

void FailureInjectionPanel::revert()
{
    setPlan(m_known);
    m_knownShown = plan();
    updatePending();
}

void FailureInjectionPanel::reloadFromSource()
{
    if (!m_source || !m_source->canInjectFaults())
        return;
    m_source->faultPlan(this, [this, source = m_source, applies = m_applies](FaultPlan p, QString error) {
        if (source != m_source || applies != m_applies)
            return; // out of date: another source, or a plan applied since
        if (!error.isEmpty()) {
            setStatus(error, true);
            m_readFailed = true;
            return;
        }
        if (std::exchange(m_readFailed, false) && m_statusError)
            setStatus({}, false); // (the read's error, not an Apply's: that clears it)
        planLoaded(p);
    });
}

void FailureInjectionPanel::planLoaded(const FaultPlan &p)
{
    const FaultPlan shown = plan();
    QStringList fired;
    std::array<bool, kStepCount> follows{};
    for (SagaStep step : kAllSteps) {
        const StepFault &before = m_known[step];
        if (before.once && before.kind != StepFault::Kind::None && p[step].kind == StepFault::Kind::None)
            fired << stepDisplayName(step);
        follows[size_t(step)] = shown[step] == m_knownShown[step];
        if (follows[size_t(step)])
            setRow(step, p[step]);
    }
    m_known = p;
    // A row that follows the plan shows it; a row being edited is compared with
    // the plan as it would show it, so the edit stays pending (and is not taken
    // for an untouched row the next read would overwrite).
    const FaultPlan nowShown = plan();
    for (SagaStep step : kAllSteps)
        m_knownShown[step] = follows[size_t(step)] ? nowShown[step] : shownForm(p[step]);
    updatePending();
    if (fired.isEmpty())
        return;
    const QString text = fired.size() == 1
        ? tr("The once-only fault on %1 fired and is disarmed.").arg(fired.constFirst())
        : tr("The once-only faults on %1 fired and are disarmed.").arg(fired.join(tr(" and ")));
    const QString full = text + QLatin1Char(' ')
        + (p.isEmpty() ? tr("No failures injected.") : tr("The rest of the plan stays armed."));
    setStatus(full, false);
    Q_EMIT message(full);
}

bool FailureInjectionPanel::hasArmedOnceFault() const
{
    for (const StepFault &f : m_known.steps) {
        if (f.once && f.kind != StepFault::Kind::None)
            return true;
    }
    return false;
}

void FailureInjectionPanel::sagasProgressed()
{
    if (hasArmedOnceFault() && !m_reloadTimer.isActive())
        m_reloadTimer.start();
}
