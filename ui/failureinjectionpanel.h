#pragma once

#include "faultplan.h"

#include <QPointer>
#include <QTimer>
#include <QWidget>
#include <array>

class ProgressSource;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSpinBox;

// Edits the fault plan of the simulated steps: per step fail with a code, add a
// delay, time out, or fail its compensation; once or with a probability. Apply
// sends it through the source (the embedded engine, or saga-server's
// /api/simulator/faults for a SUPPORT token).
//
// A "once" fault disarms itself where it runs, which the source does not
// announce: while the applied plan holds one, the panel reads the plan again
// when sagas progress (at most every kReloadMs) and shows what is left. Rows the
// user has changed since and not applied are left as they are.
//
// Edits that differ from the applied plan are pending: the status line says so,
// Apply is enabled only then, and Revert shows the applied plan again.
class FailureInjectionPanel : public QWidget
{
    Q_OBJECT
public:
    explicit FailureInjectionPanel(QWidget *parent = nullptr);

    void setSource(ProgressSource *source);
    FaultPlan plan() const;
    void setPlan(const FaultPlan &plan);
    QString statusText() const;

    // Per-step editors, for tests.
    QComboBox *kindCombo(SagaStep step) const { return m_rows[size_t(step)].kind; }
    QComboBox *codeCombo(SagaStep step) const { return m_rows[size_t(step)].code; }
    QDoubleSpinBox *probabilitySpin(SagaStep step) const { return m_rows[size_t(step)].probability; }
    QCheckBox *onceCheck(SagaStep step) const { return m_rows[size_t(step)].once; }
    QPushButton *applyButton() const { return m_apply; }
    static constexpr int kReloadMs = 500;

public Q_SLOTS:
    void apply();
    void clearAll();
    void revert(); // the rows show the applied plan again
    void reloadFromSource();

Q_SIGNALS:
    void applied(const FaultPlan &plan);
    void message(const QString &text);

private:
    void updateRow(SagaStep step);
    void setRow(SagaStep step, const StepFault &fault);
    // What happened last (applied, failed, a once-only fault fired); shown with
    // the pending-edits sentence after it while there are edits not applied.
    void setStatus(const QString &text, bool error);
    void updatePending();
    // The rows differ from the plan as last applied or read from the source.
    bool hasUnappliedChanges() const;
    // The source's plan `p` arrived: rows still showing the plan as last applied
    // or loaded follow it; says which once-only faults fired since.
    void planLoaded(const FaultPlan &p);
    void sagasProgressed();
    bool hasArmedOnceFault() const;

    struct Row {
        QComboBox *kind = nullptr;
        QComboBox *code = nullptr;
        QSpinBox *delay = nullptr;
        QDoubleSpinBox *probability = nullptr;
        QCheckBox *once = nullptr;
    };
    std::array<Row, kStepCount> m_rows;
    QPointer<ProgressSource> m_source;
    QMetaObject::Connection m_eventsConnection;
    QMetaObject::Connection m_stateConnection;
    FaultPlan m_known;      // the source's plan as last applied or read
    FaultPlan m_knownShown; // m_known as the rows show it (rows equal to it are untouched)
    QTimer m_reloadTimer;
    int m_applies = 0; // a plan read before the last Apply is out of date when it arrives
    bool m_applying = false;
    QString m_statusText;
    bool m_statusError = false;
    bool m_readFailed = false; // the status says the plan could not be read
    QPushButton *m_apply = nullptr;
    QPushButton *m_revert = nullptr;
    QPushButton *m_clear = nullptr;
    QLabel *m_status = nullptr;
};
