"""The Alkire–Foster multidimensional poverty index by hamlet (the statistics office's method).

Reported beside — never instead of — the legal classification (income and deprivations).
With d indicators of the rule set, equal weights w = 1/d, and the cut-off k (config/reports.yaml):

* a household is AF-poor when its deprivation count c ≥ k (income is not used);
* H (headcount) = AF-poor units ÷ all units, units being people (members) or households;
* A (intensity) = mean deprivation share c/d over the AF-poor units;
* MPI = H × A = Σ_j w · h_j, with h_j the censored headcount of indicator j (share of units that
  are AF-poor and deprived in j);
* contribution of j = w · h_j ÷ MPI (the contributions add up to 100%).

Pure functions over the classified table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rasoat.settings import AlkireFoster, RuleSet

INDEX_COLUMNS = ["hamlet", "units", "poor_units", "H", "A", "MPI"]


def _one(deprived: np.ndarray, weight: np.ndarray, ids: list[str], cutoff: int) -> dict:
    """H, A, MPI and per indicator h and contribution for the units of `deprived` (rows × indicators) and `weight`."""
    d = len(ids)
    count = deprived.sum(axis=1)
    poor = count >= cutoff
    total = float(weight.sum())
    poor_weight = float(weight[poor].sum())
    H = poor_weight / total if total else 0.0
    A = float((count[poor] / d * weight[poor]).sum() / poor_weight) if poor_weight else 0.0
    mpi = H * A
    row = {"units": total, "poor_units": poor_weight, "H": H, "A": A, "MPI": mpi}
    for j, i in enumerate(ids):
        censored = float(weight[poor & deprived[:, j]].sum()) / total if total else 0.0
        row[f"h_{i}"] = censored
        row[f"contribution_{i}"] = (censored / d) / mpi if mpi else 0.0
    return row


def alkire_foster(classified: pd.DataFrame, ruleset: RuleSet, method: AlkireFoster, hamlets: list[str],
                  total_label: str = "") -> pd.DataFrame:
    """One row per hamlet plus the commune: H, A, MPI, per indicator h_<ID> and contribution_<ID> (shares, 0–1)."""
    ids = [i.id for i in ruleset.indicators]
    deprived = classified[[f"deprived_{i}" for i in ids]].astype(bool).to_numpy()
    weight = (pd.to_numeric(classified["members"], errors="coerce").fillna(0).astype(float).to_numpy() if method.unit == "people"
              else np.ones(len(classified)))
    # each hamlet's rows in table order, found in one pass (not a mask over the whole table per hamlet)
    rows_of = classified.groupby("hamlet").indices
    rows = []
    for code in hamlets:
        at = rows_of.get(code, np.array([], dtype=np.intp))
        rows.append({"hamlet": code, **_one(deprived[at], weight[at], ids, method.cutoff)})
    rows.append({"hamlet": total_label, **_one(deprived, weight, ids, method.cutoff)})
    return pd.DataFrame(rows)


def index_table(index: pd.DataFrame, ruleset: RuleSet, method: AlkireFoster, hamlet_names: dict[str, str]) -> pd.DataFrame:
    """The published sheet: percentages, Vietnamese headers, a note that it is not the legal list."""
    d = len(ruleset.indicators)
    unit = "người" if method.unit == "people" else "hộ"
    out = pd.DataFrame({
        "Ấp": index["hamlet"], "Tên ấp": index["hamlet"].map(lambda c: hamlet_names.get(c, "Toàn xã" if c == "" else c)),
        f"Tổng số {unit}": index["units"].round(0).astype("int64"),
        f"Số {unit} nghèo đa chiều (≥ {method.cutoff}/{d} chỉ số)": index["poor_units"].round(0).astype("int64"),
        "H — tỷ lệ nghèo (%)": (100 * index["H"]).round(2),
        "A — cường độ (%)": (100 * index["A"]).round(2),
        "MPI = H × A": index["MPI"].round(4),
    })
    for ind in ruleset.indicators:
        out[f"Đóng góp {ind.id} (%)"] = (100 * index[f"contribution_{ind.id}"]).round(2)
    out["Ghi chú"] = (f"Chỉ số tham khảo theo phương pháp Alkire–Foster ({method.source}; độ tin cậy {method.confidence}); "
                      "không thay thế phân loại hộ nghèo theo chuẩn"
                      + ("; chỉ số tính theo quy tắc tạm thời" if ruleset.provisional or any(i.provisional for i in ruleset.indicators) else ""))
    return out
