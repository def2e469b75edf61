"""The papers' rows the chapters print beside ours, checked entry by entry against the sources' tables."""
from qnn_lite.recipes.bnn_mlp import BFCN_TABLE5
from qnn_lite.recipes.dorefa import DOREFA_TABLE1


def test_bfcn_table5():
    assert list(BFCN_TABLE5) == [(32, 32), (8, 8), (4, 4), (3, 3), (2, 2), (1, 4), (4, 1), (1, 2)]
    assert BFCN_TABLE5[(4, 1)] is None                       # "diverge"
    assert (BFCN_TABLE5[(32, 32)], BFCN_TABLE5[(1, 4)], BFCN_TABLE5[(1, 2)]) == (69.8, 64.4, 62.8)


def test_dorefa_table1_rows_that_issue_12_quotes():
    assert len(DOREFA_TABLE1) == 20
    assert DOREFA_TABLE1[(1, 4, 2)] == (0.815, 0.898, 0.911, 0.868)
    assert DOREFA_TABLE1[(1, 4, 4)][0] == 0.975
    assert DOREFA_TABLE1[(1, 2, 2)] == (0.909, 0.930, 0.900, 0.808)
    # 2/2/2 below 1/1/2 in models A-C, above in D
    assert [a < b for a, b in zip(DOREFA_TABLE1[(2, 2, 2)], DOREFA_TABLE1[(1, 1, 2)])] == [True, True, True, False]
    assert DOREFA_TABLE1[(8, 8, 8)] == (None, None, 0.970, 0.955)
